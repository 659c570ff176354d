"""POST /analyze: a batch of log lines in, threats and suggested actions out."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response

from agents.decisions_store import Decision
from agents.runtime import BatchVerdict
from api.schemas import AnalyzeRequest, AnalyzeResponse

router = APIRouter()

THREAT_ACTIONS = frozenset({"alert", "rate_limit", "block"})
ACTION_RANK = {"allow": 0, "monitor": 1, "alert": 2, "rate_limit": 3, "block": 4}


def strongest_per_client(decisions: list[Decision]) -> list[Decision]:
    """Keep one decision per client: the strongest action, the latest state of each decision."""
    best: dict[str, Decision] = {}
    for decision in decisions:
        current = best.get(decision.client)
        if current is None or ACTION_RANK[decision.action] >= ACTION_RANK[current.action]:
            best[decision.client] = decision
    return list(best.values())


def verdict_to_dict(verdict: BatchVerdict) -> dict[str, Any]:
    parsed = verdict.parsed
    actions = [decision.to_dict() for decision in strongest_per_client(verdict.decisions)]
    events = [
        {
            "line": scored.event.line,
            "client": scored.event.client,
            "score": None if scored.score is None else round(scored.score, 4),
            "anomalous": scored.anomalous,
            "warming_up": scored.warming_up,
        }
        for scored in verdict.scored
    ]
    return {
        "threat": any(action["action"] in THREAT_ACTIONS for action in actions),
        "received": parsed.received,
        "parsed": len(parsed.events),
        "rejected": len(parsed.errors),
        "headers": parsed.header_lines,
        "format": parsed.format,
        "actions": actions,
        "events": events,
        "errors": [error.to_dict() for error in parsed.errors],
    }


@router.post(
    "/analyze",
    response_model=AnalyzeResponse,
    summary="Analyse a batch of access-log lines",
    responses={
        413: {"description": "Body or batch over the configured limits."},
        422: {"description": "The body is not {\"logs\": [...]}."},
    },
)
async def analyze(body: AnalyzeRequest, request: Request) -> Response:
    """Parse, score and decide on a batch. Rejected lines are listed with their line numbers;
    the rest of the batch is still analysed."""
    runtime = request.app.state.service
    limit = runtime.settings.max_batch_lines
    if len(body.logs) > limit:
        raise HTTPException(413, f"batch of {len(body.logs)} lines exceeds the limit of {limit}; split it")
    verdict = await runtime.analyze(body.logs, format=body.format)
    if verdict.error:
        raise HTTPException(500, f"analysis failed: {verdict.error}")
    return Response(orjson.dumps(verdict_to_dict(verdict)), media_type="application/json")
