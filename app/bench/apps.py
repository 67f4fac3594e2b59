"""The two apps the middleware benchmark compares: identical but for the lifecycle
(fastapi-zdk's middleware; without it, plain /health routes). Served by the same
uvicorn: `uvicorn bench.apps:with_lifecycle`."""

from fastapi_app.main import create_app

with_lifecycle = create_app()
without_lifecycle = create_app(lifecycle_middleware=False)
