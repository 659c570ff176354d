"""The FastAPI application factory: it wires the runtime, the routes and the limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agents.runtime import Runtime
from api.limits import BodySizeLimit
from api.routes import analyze, dashboard, decisions, health, stream
from config.settings import Settings, get_settings

log = logging.getLogger("centinela.api")

DESCRIPTION = """
Centinela watches web access logs and suggests what to do about clients that
behave abnormally: allow, monitor, alert, rate_limit or block, with reasons in
Spanish and English.

Send a batch to `POST /analyze`; list and lift decisions under `/decisions`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = runtime or Runtime(settings)
        app.state.service = service
        app.state.metrics_registry = service.metrics.registry
        await service.start()
        log.info("centinela ready (warm=%s, events seen=%d)", service.warm, service.detector.events_seen)
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="Centinela", version=health.VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.include_router(analyze.router, tags=["analysis"])
    app.include_router(decisions.router, tags=["decisions"])
    app.include_router(health.router, tags=["operations"])
    app.include_router(stream.router, tags=["streaming"])
    app.include_router(dashboard.router, tags=["dashboard"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
