from fastapi import APIRouter

from fastapi_app.api.routes import hello, items, metrics

# /health* come from fastapi-zdk (or, without it, from routes.health.plain_router).
api_router = APIRouter()
api_router.include_router(hello.router)
api_router.include_router(items.router)
api_router.include_router(metrics.router)
