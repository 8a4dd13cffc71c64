"""The HTTP control API served from the supervisor (Starlette on uvicorn): streams, health, readiness."""
