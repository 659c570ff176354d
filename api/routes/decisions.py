"""Routes to list, read, lift and export decisions.

The store comes from `request.app.state.service.decisions`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from agents.decisions_store import DecisionStore

router = APIRouter()

Scope = Literal["ip", "range", "user", "hostname"]


def _store(request: Request) -> DecisionStore:
    return request.app.state.service.decisions


@router.get("/decisions")
def list_decisions(
    request: Request,
    scope: Scope | None = None,
    value: str | None = None,
    scenario: str | None = None,
    active: bool = True,
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """List decisions, newest first; by default only those still active."""
    decisions = _store(request).find(scope=scope, value=value, scenario=scenario, active=active, limit=limit)
    return [decision.to_dict() for decision in decisions]


@router.get("/decisions/export/crowdsec")
def export_crowdsec(request: Request, include_simulated: bool = False) -> list[dict[str, Any]]:
    """Export active blocks and rate limits as CrowdSec decisions (`cscli decisions import` JSON)."""
    exported = []
    store = _store(request)
    # CrowdSec reads `duration` as time from now, so each export carries what is left at the store's clock.
    now = store.clock()
    for decision in store.find(active=True, limit=1_000_000, now=now):
        if decision.simulated and not include_simulated:
            continue
        item = decision.to_crowdsec(now)
        if item is not None:
            exported.append(item)
    return exported


@router.get("/decisions/{decision_id}")
def read_decision(request: Request, decision_id: str) -> dict[str, Any]:
    decision = _store(request).get(decision_id)
    if decision is None:
        raise HTTPException(status_code=404, detail=f"decision {decision_id!r} not found")
    return decision.to_dict()


@router.delete("/decisions/{decision_id}")
def lift_decision(request: Request, decision_id: str) -> dict[str, Any]:
    """Lift (delete) a decision; it stops counting as an offence for escalation."""
    decision = _store(request).lift(decision_id)
    if decision is None:
        raise HTTPException(
            status_code=404,
            detail=f"decision {decision_id!r} not found: it was never made or is already lifted",
        )
    return {"lifted": decision.to_dict()}
