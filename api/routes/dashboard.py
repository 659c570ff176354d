"""The dashboard: the page at `/`, its files under `/static`, and the `/ws/stats` feed.

The router also has an OpenAPI page at `/docs` that loads Swagger UI from
`/static/vendor/swagger-ui` instead of a CDN, so it works without Internet
access. It answers only when the app is created with `docs_url=None`;
otherwise FastAPI's own `/docs` route comes first.

`/ws/stats` sends one JSON object a second (see `StatsCollector.snapshot`).
The collector reads every scored batch from the bus topic `events.scored`,
so it sees the same events as the decision agent, whichever route sent them.
The page itself is static HTML and JavaScript; it reads decisions from
`/ws/decisions` and sends pasted lines to `POST /analyze`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import heapq
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from agents.bus import SCORED
from agents.ingestion import ScoredBatch

log = logging.getLogger("centinela.dashboard")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The page loads scripts, styles and images from this origin only and opens
# websockets back to it; inline script and inline style attributes are refused.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

SWAGGER_UI = "/static/vendor/swagger-ui"
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

STATS_INTERVAL = 1.0  # seconds between two /ws/stats messages
RATE_WINDOW = 5.0  # seconds of wall time that events_per_s averages over
TIMELINE_POINTS = 300  # one point per second of log time
TOP_CLIENTS = 10
MAX_CLIENTS = 10_000  # clients the collector remembers, least recently seen dropped first
CLIENT_HORIZON = 300.0  # log seconds of silence after which a client leaves the ranking


@dataclass(slots=True)
class ClientScore:
    """One client's scores since it last became active after `CLIENT_HORIZON` seconds of silence."""

    max_score: float = 0.0
    last_score: float = 0.0
    events: int = 0
    anomalies: int = 0
    last_seen: float = 0.0


@dataclass(slots=True)
class Bucket:
    """Scores of the events of one second of log time."""

    max_score: float = 0.0
    total: float = 0.0
    events: int = 0
    anomalies: int = 0


class StatsCollector:
    """Counts and recent scores for the dashboard, fed by the scored batches of the runtime.

    Counters (events, anomalies) come from the runtime's Prometheus registry,
    so they match `/metrics`. The timeline and the client ranking are kept
    here, bounded by `TIMELINE_POINTS` and `MAX_CLIENTS`.
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.buckets: dict[int, Bucket] = {}
        self.clients: OrderedDict[str, ClientScore] = OrderedDict()
        self.latest_log_time = 0.0
        self._rate_samples: deque[tuple[float, float]] = deque()

    # Feeding

    def observe(self, batch: ScoredBatch) -> None:
        """Add the scored events of one batch to the timeline and the client ranking."""
        for scored in batch.scored:
            if scored.score is None:
                continue
            timestamp = scored.event.timestamp
            self.latest_log_time = max(self.latest_log_time, timestamp)
            self._add_to_bucket(int(timestamp), scored.score, scored.anomalous)
            self._add_to_client(scored.event.client, timestamp, scored.score, scored.anomalous)
        self._trim_buckets()

    async def run(self, subscription: Any) -> None:
        """Consume scored batches until cancelled; a failure on one batch is logged and skipped."""
        while True:
            batch = await subscription.get()
            try:
                self.observe(batch)
            except Exception:
                log.exception("dashboard stats failed on batch %s", getattr(batch, "batch_id", "?"))
            finally:
                subscription.task_done()

    def _add_to_bucket(self, second: int, score: float, anomalous: bool) -> None:
        bucket = self.buckets.get(second)
        if bucket is None:
            bucket = self.buckets[second] = Bucket()
        bucket.max_score = max(bucket.max_score, score)
        bucket.total += score
        bucket.events += 1
        bucket.anomalies += anomalous

    def _add_to_client(self, client: str, timestamp: float, score: float, anomalous: bool) -> None:
        entry = self.clients.get(client)
        if entry is None or timestamp - entry.last_seen > CLIENT_HORIZON:
            entry = ClientScore()
            self.clients[client] = entry
        self.clients.move_to_end(client)
        entry.max_score = max(entry.max_score, score)
        entry.last_score = score
        entry.events += 1
        entry.anomalies += anomalous
        entry.last_seen = max(entry.last_seen, timestamp)
        if len(self.clients) > MAX_CLIENTS:
            self.clients.popitem(last=False)

    def _trim_buckets(self) -> None:
        # Trim in bulk once the dict is twice the size shown, so a batch costs one sort at most.
        if len(self.buckets) > 2 * TIMELINE_POINTS:
            for second in sorted(self.buckets)[:-TIMELINE_POINTS]:
                del self.buckets[second]

    # Reading

    def snapshot(self) -> dict[str, Any]:
        """Return the figures of one /ws/stats message."""
        registry = self.runtime.metrics.registry
        events_total = registry.get_sample_value("centinela_events_total") or 0.0
        anomalies_total = registry.get_sample_value("centinela_anomalies_total") or 0.0
        return {
            "type": "stats",
            "events_per_s": round(self._rate(time.monotonic(), events_total), 2),
            "events_total": int(events_total),
            "anomalies_total": int(anomalies_total),
            "threshold": self.runtime.settings.anomaly_percentile,
            "warm": bool(self.runtime.warm),
            "stream_time": round(self.runtime.clock.now(), 3),
            "timeline": self.timeline(),
            "top_clients": self.top_clients(),
            "active_decisions": self.active_decisions(),
        }

    def timeline(self) -> list[dict[str, Any]]:
        """Return one point per second of log time, oldest first: the max and mean score and counts."""
        seconds = sorted(self.buckets)[-TIMELINE_POINTS:]
        return [
            {
                "t": second,
                "score": round(bucket.max_score, 4),
                # min() absorbs float error when every score of the second is equal.
                "mean": round(min(bucket.total / bucket.events, bucket.max_score), 4),
                "events": bucket.events,
                "anomalies": bucket.anomalies,
            }
            for second in seconds
            for bucket in (self.buckets[second],)
        ]

    def top_clients(self) -> list[dict[str, Any]]:
        """Return the most anomalous clients seen in the last `CLIENT_HORIZON` log seconds.

        Clients are ranked by anomalous events, then by their highest score, then by events.
        """
        horizon = self.latest_log_time - CLIENT_HORIZON
        recent = ((client, entry) for client, entry in self.clients.items() if entry.last_seen >= horizon)
        best = heapq.nlargest(
            TOP_CLIENTS, recent, key=lambda item: (item[1].anomalies, item[1].max_score, item[1].events)
        )
        return [
            {
                "client": client,
                "max_score": round(entry.max_score, 4),
                "last_score": round(entry.last_score, 4),
                "events": entry.events,
                "anomalies": entry.anomalies,
                "last_seen": entry.last_seen,
            }
            for client, entry in best
        ]

    def active_decisions(self) -> int:
        store = self.runtime.decisions
        count_active = getattr(store, "count_active", None)
        if callable(count_active):
            return int(count_active())
        return len(store.find(active=True, limit=1_000_000))

    def _rate(self, now: float, total: float) -> float:
        # Keep one sample at least RATE_WINDOW old as the base of the average.
        samples = self._rate_samples
        samples.append((now, total))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        first_time, first_total = samples[0]
        elapsed = now - first_time
        return (total - first_total) / elapsed if elapsed > 0 else 0.0


class SecureStaticFiles(StaticFiles):
    """StaticFiles that add the dashboard's security headers to every response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


@contextlib.asynccontextmanager
async def dashboard_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the stats collector on the running service and stop it at shutdown."""
    runtime = app.state.service
    collector = StatsCollector(runtime)
    subscription = runtime.bus.subscribe(SCORED, maxsize=64)
    task = asyncio.create_task(collector.run(subscription), name="dashboard-stats")
    app.state.dashboard_stats = collector
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        subscription.close()


router = APIRouter(lifespan=dashboard_lifespan)
router.mount("/static", SecureStaticFiles(directory=STATIC_DIR), name="static")


@router.get("/", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/docs", include_in_schema=False)
async def offline_docs(request: Request) -> HTMLResponse:
    """Serve Swagger UI from the vendored files, allowing only its one inline start-up script."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - API",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
    )
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page.body)
    )
    # Swagger UI sets style attributes from React, so styles need 'unsafe-inline'; scripts do not.
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
    return HTMLResponse(page.body, headers=headers)


@router.websocket("/ws/stats")
async def stats_feed(websocket: WebSocket) -> None:
    """Send the dashboard figures every second until the client disconnects."""
    await websocket.accept()
    collector: StatsCollector = websocket.app.state.dashboard_stats
    closed = asyncio.create_task(_wait_for_close(websocket))
    try:
        while not closed.done():
            await websocket.send_text(orjson.dumps(collector.snapshot()).decode())
            await asyncio.wait({closed}, timeout=STATS_INTERVAL)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away between two messages
    finally:
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await closed


async def _wait_for_close(websocket: WebSocket) -> None:
    """Read and ignore client messages; return when the client disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
