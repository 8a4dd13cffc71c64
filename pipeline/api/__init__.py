"""The HTTP API: route lists served by one Starlette app (streams, health, metrics, preview)."""
