"""GET /health and GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.schemas import Health
from stream import native

router = APIRouter()

VERSION = "0.1.0"


@router.get("/health", response_model=Health, summary="Liveness and model warm state")
async def health(request: Request) -> Health:
    runtime = request.app.state.service
    return Health(
        status="ok",
        warm=runtime.warm,
        events_seen=runtime.detector.events_seen,
        clients_tracked=runtime.clients_tracked,
        active_decisions=runtime.decisions.count_active(),
        version=VERSION,
        engine=native.engine(),
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
