from fastapi import APIRouter

from fastapi_app.api.routes import health, hello, items, metrics

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(hello.router)
api_router.include_router(items.router)
api_router.include_router(metrics.router)
