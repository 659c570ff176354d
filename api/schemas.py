"""Request and response models of the HTTP API, with the examples the OpenAPI page shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Format = Literal["auto", "combined", "common", "json", "csv"]

EXAMPLE_LINES = [
    '203.0.113.9 - - [04/Dec/2026:10:15:32 +0000] "GET /producto/zapatilla-42 HTTP/1.1" 200 5120 '
    '"https://tienda.example/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0"',
    '198.51.100.23 - - [04/Dec/2026:10:15:33 +0000] "GET /buscar?q=1%27%20OR%201=1-- HTTP/1.1" 500 312 '
    '"-" "sqlmap/1.8.4#stable (https://sqlmap.org)"',
    {"@timestamp": "2026-12-04T10:15:34Z", "source.ip": "2001:db8::7", "http.request.method": "POST",
     "url.path": "/login", "http.response.status_code": 401, "user_agent.original": "curl/8.5.0"},
]


class AnalyzeRequest(BaseModel):
    logs: list[str | dict[str, Any]] = Field(
        ...,
        description="Raw access-log lines (combined, common, JSON lines, CSV with its header first) "
        "or event objects with ECS field names, dotted or nested.",
        examples=[EXAMPLE_LINES],
    )
    format: Format = Field("auto", description="Log format; `auto` detects it from the batch.")


class EventResult(BaseModel):
    line: int
    client: str
    score: float | None = Field(description="Calibrated anomaly score 0..1: share of recent scores below it.")
    anomalous: bool
    warming_up: bool


class LineError(BaseModel):
    line: int
    reason: str
    excerpt: str


class Action(BaseModel):
    id: str
    action: Literal["allow", "monitor", "alert", "rate_limit", "block"]
    scope: str
    value: str
    duration: str
    until: str
    severity: str
    confidence: float
    scenario: str
    client: str
    reasons: dict[str, list[str]]
    evidence: list[dict[str, Any]]
    simulated: bool


class AnalyzeResponse(BaseModel):
    threat: bool = Field(description="True when any client in the batch earned an alert, rate_limit or block.")
    received: int = Field(description="Items in the batch: parsed + rejected + headers.")
    parsed: int
    rejected: int
    headers: int = Field(description="CSV header lines read (0 or 1); they are neither events nor errors.")
    format: str
    actions: list[Action]
    events: list[EventResult]
    errors: list[LineError]


class Health(BaseModel):
    status: Literal["ok"]
    warm: bool
    events_seen: int
    clients_tracked: int
    active_decisions: int
    version: str
    engine: Literal["native", "python"] = Field(
        description="native when the compiled fast path (stream/native) is loaded, python when it is not built"
    )
