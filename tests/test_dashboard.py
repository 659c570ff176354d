"""The dashboard page, its static files and the /ws/stats feed, with the real agents."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from agents.clock import StreamClock
from agents.decisions_store import DecisionStore
from agents.ingestion import ScoredBatch
from agents.messages import ClientStats, ScoredEvent
from agents.metrics import Metrics
from api.app import create_app
from api.routes.dashboard import CLIENT_HORIZON, STATIC_DIR, TIMELINE_POINTS, StatsCollector, offline_docs
from config.settings import Settings
from data.generate import generate
from stream.events import AccessEvent
from stream.parsers import ParseResult

JS_DIR = STATIC_DIR / "js"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    test_settings = Settings(
        state_dir=tmp_path_factory.mktemp("state"),
        hst_trees=10,
        hst_window=250,
        reference_size=1000,
        history_max_events=5000,
    )
    with TestClient(create_app(test_settings)) as test_client:
        yield test_client


def scored(client: str, timestamp: float, score: float | None, threshold: float = 0.995) -> ScoredEvent:
    event = AccessEvent(timestamp=timestamp, source_address=client, source_ip=client)
    return ScoredEvent(
        event=event,
        features={},
        stats=ClientStats(),
        score=score,
        raw_score=score,
        anomalous=score is not None and score >= threshold,
        warming_up=score is None,
    )


def batch(events: list[ScoredEvent]) -> ScoredBatch:
    return ScoredBatch("b1", events, ParseResult())


class _PageScan(HTMLParser):
    """Collect the script tags, inline handlers and style attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_attributes: list[tuple[str, str]] = []
        self.i18n_keys: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.inline_attributes.append((tag, name))
        for name in ("data-i18n", "data-i18n-title"):
            if attributes.get(name):
                self.i18n_keys.add(str(attributes[name]))


def scan_page(html: str) -> _PageScan:
    scan = _PageScan()
    scan.feed(html)
    return scan


def i18n_tables() -> dict[str, set[str]]:
    """Return the keys of the Spanish and English string tables in i18n.js."""
    source = (JS_DIR / "i18n.js").read_text(encoding="utf-8")
    tables = {}
    for lang in ("es", "en"):
        block = re.search(rf"^  {lang}: \{{\n(.*?)^  \}},", source, re.M | re.S)
        assert block is not None, f"no {lang} table in i18n.js"
        tables[lang] = set(re.findall(r"^\s+(\w+): ", block.group(1), re.M))
    return tables


# The page and its files


def test_dashboard_page_served_with_csp(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_dashboard_page_has_no_inline_script(client: TestClient) -> None:
    scan = scan_page(client.get("/").text)
    assert scan.scripts, "the page loads no script"
    for script in scan.scripts:
        assert script.get("src", "").startswith("/static/"), f"script without a same-origin src: {script}"
    assert scan.inline_attributes == []


def test_dashboard_static_files_served(client: TestClient) -> None:
    for path in ("/static/js/main.js", "/static/vendor/uPlot.iife.min.js", "/static/dashboard.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "content-security-policy" in response.headers, path
    assert client.get("/static/js/main.js").headers["content-type"].startswith("text/javascript")


def test_dashboard_static_rejects_path_traversal(client: TestClient) -> None:
    assert client.get("/static/../routes/dashboard.py").status_code == 404
    assert client.get("/static/%2e%2e/routes/dashboard.py").status_code == 404


def test_dashboard_not_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/analyze" in paths


def test_dashboard_scripts_never_write_html() -> None:
    # Attacker-controlled strings reach the page only through textContent and text nodes.
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function")
    for path in sorted(JS_DIR.glob("*.js")):
        source = path.read_text(encoding="utf-8")
        assert forbidden.search(source) is None, f"{path.name} writes HTML or evaluates code"


def test_dashboard_strings_in_both_languages(client: TestClient) -> None:
    tables = i18n_tables()
    assert tables["es"] == tables["en"], f"keys in one language only: {tables['es'] ^ tables['en']}"
    used_by_page = scan_page(client.get("/").text).i18n_keys
    assert used_by_page <= tables["es"], f"page keys missing from i18n.js: {used_by_page - tables['es']}"
    used_by_scripts = set()
    for path in JS_DIR.glob("*.js"):
        used_by_scripts |= set(re.findall(r"\bt\(\"(\w+)\"", path.read_text(encoding="utf-8")))
    assert used_by_scripts <= tables["es"], f"script keys missing from i18n.js: {used_by_scripts - tables['es']}"


def test_dashboard_vendor_library_has_license() -> None:
    vendor = STATIC_DIR / "vendor"
    assert (vendor / "uPlot.LICENSE").read_text(encoding="utf-8").startswith("The MIT License")
    readme = (vendor / "README.md").read_text(encoding="utf-8")
    assert re.search(r"`uplot`.*\| 1\.6\.32 \|", readme)


# The /ws/stats feed


def test_stats_feed_reports_analyzed_batch(client: TestClient) -> None:
    lines = [record.line for record in generate(events=1500, seed=5)]
    verdict = client.post("/analyze", json={"logs": lines}).json()
    assert verdict["parsed"] == 1500

    with client.websocket_connect("/ws/stats") as feed:
        stats = feed.receive_json()

    assert stats["type"] == "stats"
    assert stats["events_total"] >= 1500
    assert stats["anomalies_total"] >= sum(event["anomalous"] for event in verdict["events"])
    assert stats["threshold"] == client.app.state.service.settings.anomaly_percentile
    assert stats["active_decisions"] == len(client.get("/decisions", params={"limit": 10_000}).json())
    assert 0 < len(stats["timeline"]) <= TIMELINE_POINTS
    times = [point["t"] for point in stats["timeline"]]
    assert times == sorted(times)
    analysed_clients = {event["client"] for event in verdict["events"]}
    assert {entry["client"] for entry in stats["top_clients"]} <= analysed_clients


def test_stats_feed_sends_every_second(client: TestClient) -> None:
    with client.websocket_connect("/ws/stats") as feed:
        first = feed.receive_json()
        second = feed.receive_json()
    assert first["type"] == second["type"] == "stats"
    assert second["events_total"] >= first["events_total"]


# The collector


class _Runtime:
    """Only what StatsCollector.snapshot reads, around real metrics and a real decision store."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.settings = Settings()
        self.clock = StreamClock()
        self.decisions = DecisionStore(clock=self.clock.now)
        self.warm = True


def test_stats_collector_skips_unscored_events() -> None:
    collector = StatsCollector(_Runtime())
    collector.observe(batch([scored("198.51.100.1", 1000.0, None), scored("198.51.100.2", 1000.5, 0.4)]))
    assert [point["t"] for point in collector.timeline()] == [1000]
    assert [entry["client"] for entry in collector.top_clients()] == ["198.51.100.2"]


def test_stats_collector_timeline_max_and_mean() -> None:
    collector = StatsCollector(_Runtime())
    collector.observe(batch([scored("198.51.100.1", 50.1, 0.2), scored("198.51.100.1", 50.9, 0.999)]))
    (point,) = collector.timeline()
    assert point["score"] == pytest.approx(0.999)
    assert point["mean"] == pytest.approx(0.5995)
    assert point["events"] == 2
    assert point["anomalies"] == 1


def test_stats_collector_ranks_by_anomalies() -> None:
    collector = StatsCollector(_Runtime())
    events = [scored("198.51.100.7", 10.0, 1.0)]  # one very high score
    events += [scored("203.0.113.9", 11.0 + i, 0.996) for i in range(3)]  # three anomalous events
    events += [scored("192.0.2.1", 12.0, 0.3)]
    collector.observe(batch(events))
    ranking = [entry["client"] for entry in collector.top_clients()]
    assert ranking == ["203.0.113.9", "198.51.100.7", "192.0.2.1"]


def test_stats_collector_forgets_quiet_clients() -> None:
    collector = StatsCollector(_Runtime())
    collector.observe(batch([scored("198.51.100.7", 0.0, 0.999)]))
    collector.observe(batch([scored("192.0.2.1", CLIENT_HORIZON + 10.0, 0.1)]))
    assert [entry["client"] for entry in collector.top_clients()] == ["192.0.2.1"]


def test_stats_collector_rate_averages_counter() -> None:
    runtime = _Runtime()
    collector = StatsCollector(runtime)
    assert collector._rate(100.0, 0.0) == 0.0
    assert collector._rate(101.0, 50.0) == pytest.approx(50.0)
    assert collector._rate(103.0, 250.0) == pytest.approx(250.0 / 3)
    # The base is the newest sample at least RATE_WINDOW (5 s) old: here the one at 101 s.
    assert collector._rate(106.0, 400.0) == pytest.approx(350.0 / 5)
    assert collector._rate(112.0, 400.0) == 0.0


def test_stats_collector_snapshot_uses_metrics() -> None:
    runtime = _Runtime()
    runtime.metrics.events.inc(42)
    runtime.metrics.anomalies.inc(3)
    snapshot = StatsCollector(runtime).snapshot()
    assert snapshot["events_total"] == 42
    assert snapshot["anomalies_total"] == 3
    assert snapshot["active_decisions"] == 0


event_strategy = st.tuples(
    st.sampled_from(["198.51.100.1", "198.51.100.2", "2001:db8::5", "tienda-api.internal"]),
    st.floats(min_value=0, max_value=2000, allow_nan=False),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(event_strategy, max_size=80), max_size=12))
def test_stats_collector_timeline_invariants(batches: list[list[tuple[str, float, float | None]]]) -> None:
    collector = StatsCollector(_Runtime())
    for items in batches:
        collector.observe(batch([scored(client, timestamp, score) for client, timestamp, score in items]))
    timeline = collector.timeline()
    assert len(timeline) <= TIMELINE_POINTS
    assert [point["t"] for point in timeline] == sorted({point["t"] for point in timeline})
    for point in timeline:
        assert 0.0 <= point["mean"] <= point["score"] <= 1.0
        assert 0 <= point["anomalies"] <= point["events"]
    scored_seconds = {int(timestamp) for items in batches for _, timestamp, score in items if score is not None}
    assert [point["t"] for point in timeline] == sorted(scored_seconds)[-TIMELINE_POINTS:]
    assert len(collector.top_clients()) <= 10


def test_offline_docs_served_from_vendored_swagger(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = create_app(Settings(state_dir=tmp_path_factory.mktemp("docs"), hst_trees=10, hst_window=250,
                              reference_size=1000, history_max_events=500))
    # Drop FastAPI's CDN page, as docs_url=None would, so the dashboard router serves /docs.
    app.router.routes = [
        route for route in app.router.routes
        if not (getattr(route, "path", None) == "/docs" and getattr(route, "endpoint", None) is not offline_docs)
    ]
    with TestClient(app) as test_client:
        response = test_client.get("/docs")
        assert response.status_code == 200
        assert "cdn.jsdelivr.net" not in response.text
        bundle = re.search(r'<script src="([^"]+)"', response.text)
        assert bundle is not None
        assert test_client.get(bundle.group(1)).status_code == 200
        inline = re.search(r"<script>(.*?)</script>", response.text, re.S)
        assert inline is not None
        digest = base64.b64encode(hashlib.sha256(inline.group(1).encode()).digest()).decode()
        policy = response.headers["content-security-policy"]
        assert f"'sha256-{digest}'" in policy
        assert "script-src 'self' 'sha256-" in policy


def test_stats_feed_needs_key_when_keys_set(tmp_path_factory: pytest.TempPathFactory) -> None:
    key = "dashboard-test-key-0123456789"
    guarded = Settings(
        state_dir=tmp_path_factory.mktemp("keys"),
        hst_trees=10,
        hst_window=250,
        reference_size=1000,
        history_max_events=500,
        api_keys=f"soc:{key}:analyze",
    )
    with TestClient(create_app(guarded)) as test_client:
        assert test_client.get("/").status_code == 200
        assert test_client.get("/static/js/main.js").status_code == 200
        with pytest.raises(WebSocketDisconnect) as denied, test_client.websocket_connect("/ws/stats") as feed:
            feed.receive_json()
        assert denied.value.code == 1008
        with test_client.websocket_connect(f"/ws/stats?api_key={key}") as feed:
            assert feed.receive_json()["type"] == "stats"
