"""The HTTP API: route lists served by one Starlette app on uvicorn in the supervisor (streams, health,
readiness, metrics, preview)."""
