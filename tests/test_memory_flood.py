"""A flood of one million distinct client addresses keeps the ingestion agent's memory bounded."""

from __future__ import annotations

import ipaddress
import tracemalloc
from pathlib import Path

import pytest

from agents.ingestion import IngestionAgent
from config.settings import Settings
from stream.events import AccessEvent
from stream.warmstart import new_detector

MAX_CLIENTS = 10_000
BATCH = 5_000
START = 1_796_378_400.0  # 2026-12-04 10:00:00 UTC


def flood_batch(first: int) -> list[AccessEvent]:
    """Return BATCH events, each from a new address (10.0.0.0/8 counted up from `first`)."""
    events = []
    for i in range(first, first + BATCH):
        ip = str(ipaddress.IPv4Address(0x0A000000 + i))
        events.append(
            AccessEvent(
                timestamp=START + i / BATCH,
                source_address=ip,
                source_ip=ip,
                http_request_method="GET",
                url_path=f"/producto/{i % 500}",
                http_response_status_code=200,
                http_response_body_bytes=512 + i % 4096,
                user_agent_original="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            )
        )
    return events


def feed(agent: IngestionAgent, first: int, count: int) -> int:
    for start in range(first, first + count, BATCH):
        agent.score(flood_batch(start))
    return first + count


@pytest.mark.slow
def test_memory_flood_stays_bounded(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path, hst_trees=5, hst_window=250, reference_size=1000, max_clients=MAX_CLIENTS
    )
    agent = IngestionAgent(settings, new_detector(settings))

    # Most of the flood runs untraced (tracemalloc slows allocation several times over).
    sent = feed(agent, 0, 900_000)

    # Then two traced stretches follow, each turning the client table over several times. Memory
    # allocated in the first and still alive is the table's own size, and the second must not add to it.
    tracemalloc.start()
    try:
        sent = feed(agent, sent, 50_000)
        after_first, _ = tracemalloc.get_traced_memory()
        sent = feed(agent, sent, 50_000)
        after_second, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    windows = agent.extractor.windows
    assert sent == 1_000_000
    assert agent.events_seen == 1_000_000
    assert len(windows) == MAX_CLIENTS
    assert windows.evicted == 1_000_000 - MAX_CLIENTS
    assert after_second <= after_first * 1.10 + 1_000_000
    # An absolute ceiling too: the table of 10,000 windows plus one batch in flight.
    assert peak < 64 * 1024 * 1024
    print(f"traced memory after 950k: {after_first / 1e6:.1f} MB, after 1M: {after_second / 1e6:.1f} MB")
