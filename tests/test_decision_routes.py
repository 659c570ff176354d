"""Decision routes on a small FastAPI app holding a real store and agent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agents.decision import DecisionAgent
from agents.decisions_store import DecisionStore
from agents.messages import ClientStats
from agents.policy import Policy
from api.routes.decisions import router
from config.settings import Settings
from tests.test_decision_agent import T0, benign_site, brute_force_events, feed, injection_block_events
from tests.test_decision_agent import make_scored as scored_event
from tests.test_decision_store import make_decision


def make_client(policy: Policy | None = None) -> tuple[TestClient, DecisionAgent, DecisionStore]:
    store = DecisionStore(clock=lambda: T0 + 60)
    agent = DecisionAgent(policy or Policy(), store, Settings(), clock=lambda: T0)
    app = FastAPI()
    app.include_router(router)
    app.state.service = SimpleNamespace(decisions=store, decision_agent=agent)
    return TestClient(app), agent, store


def test_decision_routes_list_active() -> None:
    client, agent, store = make_client()
    feed(agent, brute_force_events())
    expired = make_decision("198.51.100.50", start=T0 - 7200)
    store.add(expired)
    response = client.get("/decisions")
    assert response.status_code == 200
    body = response.json()
    assert [item["scenario"] for item in body] == ["brute_force"]
    assert body[0]["reasons"]["es"]
    assert body[0]["reasons"]["en"]


def test_decision_routes_list_all_and_filters() -> None:
    client, agent, store = make_client()
    feed(agent, brute_force_events())
    store.add(make_decision("198.51.100.50", start=T0 - 7200))
    assert len(client.get("/decisions", params={"active": "false"}).json()) == 2
    assert client.get("/decisions", params={"scenario": "scanning"}).json() == []
    only = client.get("/decisions", params={"value": "198.51.100.50", "active": "false"}).json()
    assert [item["value"] for item in only] == ["198.51.100.50"]


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 0}, "limit"), ({"scope": "planet"}, "scope"), ({"active": "maybe"}, "active")]
)
def test_decision_routes_reject_bad_query(params: dict[str, object], field: str) -> None:
    client, _, _ = make_client()
    response = client.get("/decisions", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_decision_routes_get_and_lift() -> None:
    client, agent, _ = make_client()
    decision = feed(agent, brute_force_events())[0]
    response = client.get(f"/decisions/{decision.id}")
    assert response.status_code == 200
    assert response.json()["id"] == decision.id

    lifted = client.delete(f"/decisions/{decision.id}")
    assert lifted.status_code == 200
    assert lifted.json()["lifted"]["id"] == decision.id
    assert client.get(f"/decisions/{decision.id}").status_code == 404
    assert client.get("/decisions").json() == []


def test_decision_routes_unknown_id_404() -> None:
    client, _, _ = make_client()
    response = client.get("/decisions/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "decision 'nope' not found"
    deleted = client.delete("/decisions/nope")
    assert deleted.status_code == 404
    assert "not found" in deleted.json()["detail"]


def test_decision_routes_export_crowdsec() -> None:
    client, agent, _ = make_client()
    feed(agent, brute_force_events())
    feed(agent, injection_block_events()[:1])  # an alert on another client: not exported
    heavy = scored_event("198.51.100.77", T0 + 2, stats=ClientStats(requests=900, rate_per_min=900.0))
    feed(agent, [*benign_site(T0 + 1), heavy])
    exported = client.get("/decisions/export/crowdsec").json()
    by_value = {item["value"]: item for item in exported}
    assert set(by_value) == {"203.0.113.7", "198.51.100.77"}
    assert by_value["203.0.113.7"]["type"] == "ban"
    assert by_value["198.51.100.77"]["type"] == "throttle"
    assert by_value["203.0.113.7"]["scope"] == "Ip"
    assert by_value["203.0.113.7"]["scenario"] == "centinela/brute_force"
    assert by_value["203.0.113.7"]["duration"] == "59m9s"


def test_decision_routes_export_skips_simulated() -> None:
    client, agent, _ = make_client(Policy.model_validate({"simulate": True}))
    feed(agent, brute_force_events())
    assert client.get("/decisions/export/crowdsec").json() == []
    included = client.get("/decisions/export/crowdsec", params={"include_simulated": "true"}).json()
    assert [item["simulated"] for item in included] == [True]
