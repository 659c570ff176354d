"""The batched feature extraction gives, row by row, what the per-event functions give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.features import FeatureExtractor, event_features

T0 = 1_764_842_400.0

paths = st.none() | st.sampled_from(
    ["/", "/login", "/wp-login.php", "/.env", "/producto/7", "/../../etc/passwd", "/api/session", ""]
) | st.text(max_size=40)
queries = st.none() | st.sampled_from(["q=zapatos", "id=1' OR '1'='1", "x=${jndi:ldap://a}", ""]) | st.text(max_size=40)
agents = st.none() | st.sampled_from(
    ["Mozilla/5.0 Firefox/133.0", "sqlmap/1.8", "curl/8.5", "Nikto ${jndi:ldap://x} <script>", "Googlebot", ""]
) | st.text(max_size=40)
events = st.builds(
    AccessEvent,
    timestamp=st.floats(min_value=T0, max_value=T0 + 900),
    source_address=st.sampled_from(["203.0.113.5", "203.0.113.6", "2001:db8::1", "host.example"]),
    source_ip=st.none() | st.sampled_from(["203.0.113.5", "203.0.113.6"]),
    http_request_method=st.none() | st.sampled_from(["GET", "POST", "HEAD", "DELETE", "PROPFIND"]),
    url_path=paths,
    url_query=queries,
    http_response_status_code=st.none() | st.sampled_from([200, 301, 401, 403, 404, 500, 503]) | st.integers(0, 999),
    http_response_body_bytes=st.none() | st.integers(min_value=0, max_value=10**9),
    user_agent_original=agents,
    user_name=st.none() | st.sampled_from(["ana", "luis", "admin"]),
    tags=st.sampled_from([(), (TAG_HANDSHAKE,), (TAG_MALFORMED_REQUEST,), ("forwarded",)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=1, max_size=60))
def test_extract_batch_matches_per_event_features_and_windows(batch: list[AccessEvent]) -> None:
    batched = FeatureExtractor(60, 1000, 900)
    one_by_one = FeatureExtractor(60, 1000, 900)
    matrix, stats = batched.extract_batch(batch)
    for i, event in enumerate(batch):
        row, flags = event_features(event)
        expected = one_by_one.windows.update(event.client, event.timestamp, event.url_path, event.user_name, flags)
        assert matrix[i, :11].tolist() == row
        assert stats[i] == expected
