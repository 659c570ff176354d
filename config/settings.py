"""Every tunable number of Centinela, in one validated settings class.

Each field can be overridden by an environment variable named
`CENTINELA_<FIELD>` (for example `CENTINELA_PORT=9000`) or a `.env` file.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTINELA_", env_file=".env", extra="ignore")

    # Server
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "INFO"

    # Ingestion limits
    max_line_bytes: int = Field(16_384, ge=256, description="Longer lines are rejected, never cut.")
    max_batch_lines: int = Field(50_000, ge=1)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDRs whose X-Forwarded-For is trusted; never acted on.",
    )

    # Per-client windows
    window_seconds: float = Field(60.0, gt=0)
    max_clients: int = Field(100_000, ge=1, description="LRU bound on tracked clients.")
    client_idle_seconds: float = Field(900.0, gt=0, description="Clients idle this long are dropped.")
    window_max_events: int = Field(512, ge=8, description="Events kept per client window.")

    # Detector (HalfSpaceTrees)
    hst_trees: int = Field(25, ge=1)
    hst_height: int = Field(8, ge=2, le=16)
    # Defaults measured on the generated mix (docs/evaluation.md): a window of 4000 events gave
    # event ROC-AUC 0.99 against 0.92 with 1000, because attack bursts no longer fill a whole window.
    hst_window: int = Field(4000, ge=10)
    hst_seed: int = 42
    reference_size: int = Field(5000, ge=100, description="Recent scores kept for calibration.")
    anomaly_percentile: float = Field(
        0.97, gt=0.5, lt=1.0, description="Calibrated score at or above which an event is anomalous."
    )
    tuned_path: Path | None = Field(
        None, description="Supervised model written by `python -m replay tune`; its score replaces the HST one."
    )

    # Warm start
    state_dir: Path = PROJECT_ROOT / "var"
    history_path: Path = PROJECT_ROOT / "data" / "history" / "benign-history.log.gz"
    history_max_events: int = Field(60_000, ge=0)

    # Decisions
    policy_path: Path | None = None

    # Access control (see docs/security.md)
    api_keys: SecretStr | None = Field(
        None, description="Comma-separated name:key:role entries; role is analyze or admin."
    )
    api_keys_file: Path | None = Field(None, description="File with one name:key:role entry per line.")
    metrics_public: bool = Field(False, description="Serve /metrics without a key even when keys are set.")
    rate_limit_per_second: float = Field(50.0, gt=0, description="HTTP requests per second per key or address.")
    rate_limit_burst: int = Field(100, ge=1, description="Requests a key or address may send at once.")
    websocket_max_message_bytes: int = Field(1024 * 1024, ge=1024, description="Largest websocket message.")
    websocket_messages_per_second: float = Field(1000.0, gt=0, description="Websocket messages per second per key.")
    websocket_burst: int = Field(2000, ge=1, description="Websocket messages a key may send at once.")

    # Snapshots and shutdown
    snapshot_key: SecretStr | None = Field(None, description="HMAC-SHA256 key that signs and verifies snapshots.")
    snapshot_interval_seconds: float = Field(60.0, ge=0, description="Seconds between snapshots; 0 only at exit.")
    drain_timeout_seconds: float = Field(10.0, ge=0, description="Wait for batches in flight at snapshot or exit.")

    # Logging
    log_format: Literal["text", "json"] = "text"

    # Websocket streaming (/ws/stream, /ws/decisions)
    websocket_max_in_flight: int = Field(8, ge=1, description="Messages read but not yet answered per connection.")
    websocket_decision_buffer: int = Field(
        1000, ge=1, description="Decisions queued for one slow websocket before it is closed with 1013."
    )
    websocket_ping_interval: float = Field(20.0, gt=0, description="Seconds between keepalive pings.")
    websocket_ping_timeout: float = Field(20.0, gt=0, description="Seconds to wait for a pong before closing.")

    # Scaled deployment on Redis Streams (docs/scaling.md); no redis_url runs everything in one process
    redis_url: str | None = Field(None, description="redis://host:port/db of the shared Redis; None = in-process.")
    redis_prefix: str = Field("centinela", min_length=1, description="Prefix of every Redis key and stream.")
    partitions: int = Field(4, ge=1, le=1024, description="Partition streams; clients are hashed over them.")
    lease_ttl_seconds: float = Field(5.0, gt=0, description="A partition whose owner is silent this long moves.")
    reply_timeout_seconds: float = Field(30.0, gt=0, description="Wait for the workers' results, then 504.")
    partition_snapshot_seconds: float = Field(10.0, gt=0, description="Seconds between partition snapshots.")
    stream_max_len: int = Field(
        1_000_000,
        ge=1000,
        description="Approximate events kept per partition stream; each append trims to this over the chunk size.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {item!r} is not an IP address or CIDR") from exc
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
