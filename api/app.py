"""The FastAPI application factory: it wires the runtime, the routes and the limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents.runtime import Runtime
from api.auth import KeyRing
from api.limits import BodySizeLimit, NoSniff
from api.ratelimit import RateLimiter, WebSocketGuard, guard, websocket_hard_limit
from api.routes import analyze, dashboard, decisions, health, stream
from config.settings import Settings, get_settings

log = logging.getLogger("centinela.api")

DESCRIPTION = """
Centinela watches web access logs and suggests what to do about clients that
behave abnormally: allow, monitor, alert, rate_limit or block, with reasons in
Spanish and English.

Send a batch to `POST /analyze`; list and lift decisions under `/decisions`.
"""


def make_runtime(settings: Settings) -> Any:
    """Return the in-process runtime, or the Redis one when `redis_url` is set (docs/scaling.md)."""
    if settings.redis_url is None:
        return Runtime(settings)
    from agents.redis_runtime import RedisRuntime

    return RedisRuntime(settings)


async def analysis_timeout(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=504)


async def unreadable_body(request: Request, exc: StarletteHTTPException) -> Response:
    """Explain a body FastAPI could not decode (not UTF-8, JSON nested too deep) instead of its generic 400."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, UnicodeDecodeError | RecursionError):
        return await http_exception_handler(request, exc)
    if isinstance(cause, UnicodeDecodeError):
        problem = f"it is not UTF-8 (byte 0x{cause.object[cause.start]:02x} at offset {cause.start})"
    else:
        problem = "the JSON is nested too deeply to parse"
    detail = (
        f'invalid request body: {problem}; send {{"logs": [...]}} as UTF-8 JSON, each item a log line '
        "(string) or an event object"
    )
    return JSONResponse({"detail": detail}, status_code=400)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = runtime or make_runtime(settings)
        app.state.service = service
        app.state.metrics_registry = service.metrics.registry
        await service.start()
        log.info("centinela ready (warm=%s, events seen=%d)", service.warm, service.detector.events_seen)
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Centinela",
        version=health.VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The dashboard router serves /docs with a vendored Swagger UI, so the page works offline.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(guard)],  # API key, role and rate limit on every route (api/auth.py)
    )
    if settings.redis_url is not None:
        from agents.redis_runtime import AnalysisTimeout

        app.add_exception_handler(AnalysisTimeout, analysis_timeout)
    app.add_exception_handler(StarletteHTTPException, unreadable_body)  # type: ignore[arg-type]
    app.state.keyring = KeyRing.from_settings(settings)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.include_router(analyze.router, tags=["analysis"])
    app.include_router(decisions.router, tags=["decisions"])
    app.include_router(health.router, tags=["operations"])
    app.include_router(stream.router, tags=["streaming"])
    app.include_router(dashboard.router, tags=["dashboard"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(NoSniff)
    app.add_middleware(
        WebSocketGuard,
        keyring=app.state.keyring,
        max_bytes=websocket_hard_limit(settings),
        rate=settings.websocket_messages_per_second,
        burst=settings.websocket_burst,
    )
    return app
