"""The decision policy: thresholds, actions, durations, escalation and the allow-list.

A policy is read from TOML (stdlib `tomllib`) or YAML (PyYAML) and validated
by pydantic. `load_policy` raises `PolicyError` with the file name and the
dotted field path, for example
`policy.toml: scenarios.brute_force.failed_logins: Input should be greater than 0`.
The default policy, every field commented, is `config/policy.toml`.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from config.settings import PROJECT_ROOT

DEFAULT_POLICY_PATH = PROJECT_ROOT / "config" / "policy.toml"

Action = Literal["allow", "monitor", "alert", "rate_limit", "block"]
Severity = Literal["low", "medium", "high", "critical"]

# Orders used to compare and raise actions and severities.
ACTION_RANK: dict[str, int] = {"allow": 0, "monitor": 1, "alert": 2, "rate_limit": 3, "block": 4}
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


class PolicyError(ValueError):
    """A policy file could not be read or is invalid; the message names the file and the field."""


def parse_duration(value: Any) -> float:
    """Convert a duration such as "4h", "30m", "1h30m", "90s" or "7d" into seconds."""
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like '4h', '30m', '1h30m' or '7d', got {value!r}")
    text = value.strip().lower()
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use a number and unit d, h, m or s, like '4h' or '1h30m'")
    if total <= 0:
        raise ValueError(f"invalid duration {value!r}: must be longer than zero")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as a Go-style duration ("4h", "1h30m", "168h"), which CrowdSec also accepts."""
    whole = max(1, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scenario(_Strict):
    """Fields every scenario has: whether it runs and what it does when it fires."""

    enabled: bool = True
    action: Action
    duration: Duration
    severity: Severity


class BruteForce(Scenario):
    failed_logins: int = Field(default=10, gt=0)
    action: Action = "block"
    duration: Duration = parse_duration("1h")
    severity: Severity = "high"


class CredentialStuffing(Scenario):
    # One client trying many accounts.
    client_distinct_users: int = Field(default=5, gt=1)
    client_failed_logins: int = Field(default=5, gt=0)
    # Many clients failing on one login endpoint.
    endpoint_failed_logins: int = Field(default=15, gt=0)
    endpoint_clients: int = Field(default=5, gt=1)
    endpoint_users: int = Field(default=10, gt=1)
    participant_failed_logins: int = Field(default=2, gt=0)
    participant_login_share: Share = 0.8
    participant_distinct_users: int = Field(default=3, gt=1)
    # A client first seen within the window, whose requests there are all login attempts
    # (plus at most one load of the login page), counts from its first failed login.
    participant_new_client: bool = True
    max_endpoints: int = Field(default=1024, gt=0)
    # Several participants in one /24 (IPv4) or /64 (IPv6).
    range_min_clients: int = Field(default=3, ge=0)
    range_min_share: Share = 0.5
    range_action: Action = "rate_limit"
    range_duration: Duration = parse_duration("1h")
    action: Action = "block"
    duration: Duration = parse_duration("4h")
    severity: Severity = "high"


class Scanning(Scenario):
    min_requests: int = Field(default=20, gt=0)
    share_4xx: Share = 0.5
    distinct_paths: int = Field(default=15, gt=0)
    probe_hits: int = Field(default=3, gt=0)
    handshakes: int = Field(default=2, gt=0)
    scanner_user_agent: bool = True
    action: Action = "block"
    duration: Duration = parse_duration("4h")
    severity: Severity = "medium"


class InjectionAttempt(Scenario):
    signal: Share = 0.6
    hits: int = Field(default=3, gt=0)
    first_hit_action: Action = "alert"
    action: Action = "block"
    duration: Duration = parse_duration("12h")
    severity: Severity = "high"


class Scraping(Scenario):
    # Distinct catalogue pages from one client in the window, and the largest share of
    # static assets among its page and asset requests.
    pages: int = Field(default=30, gt=0)
    max_asset_share: Share = 0.1
    # With a script user agent (curl, python-requests, Scrapy, Java...) fewer pages are enough.
    script_pages: int = Field(default=15, gt=0)
    page_paths: str = r"/(?:productos?|products?|items?|categorias?|category|categories|catalogo|catalog)(?:/|$)"
    asset_paths: str = (
        r"\.(?:css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf)$|^/(?:static|assets|img|images)/"
    )
    max_clients: int = Field(default=5_000, gt=0)
    action: Action = "rate_limit"
    duration: Duration = parse_duration("30m")
    severity: Severity = "medium"

    @field_validator("action")
    @classmethod
    def _check_action(cls, value: str) -> str:
        # A fast shopper behind a shared address can look like a scraper, so the first offence
        # never blocks. escalation.block_after still turns a repeat offence into a block.
        if value == "block":
            raise ValueError("'block' is not accepted for a first scraping offence; use rate_limit "
                             "and let escalation.block_after block repeat offenders")
        return value

    @field_validator("page_paths", "asset_paths")
    @classmethod
    def _check_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from exc
        return value


class Flood(Scenario):
    rate_per_min: float = Field(default=300.0, gt=0)
    baseline_factor: float = Field(default=20.0, gt=1)
    min_requests: int = Field(default=100, gt=0)
    min_active_clients: int = Field(default=3, gt=0)
    baseline_refresh: Duration = parse_duration("5s")
    action: Action = "rate_limit"
    duration: Duration = parse_duration("10m")
    severity: Severity = "medium"


class AnomalousBehaviour(Scenario):
    min_score: Share = 0.99
    min_events: int = Field(default=5, gt=0)
    action: Action = "monitor"
    duration: Duration = parse_duration("30m")
    severity: Severity = "low"


class Scenarios(_Strict):
    brute_force: BruteForce = BruteForce()
    credential_stuffing: CredentialStuffing = CredentialStuffing()
    scanning: Scanning = Scanning()
    injection_attempt: InjectionAttempt = InjectionAttempt()
    flood: Flood = Flood()
    scraping: Scraping = Scraping()
    anomalous_behaviour: AnomalousBehaviour = AnomalousBehaviour()


class Escalation(_Strict):
    factor: float = Field(default=2.0, ge=1.0)
    max_duration: Duration = parse_duration("7d")
    severity_every: int = Field(default=2, ge=0)
    block_after: int = Field(default=3, ge=0)
    memory: Duration = parse_duration("7d")


class Dedup(_Strict):
    cooldown: Duration = parse_duration("5m")


class Allow(_Strict):
    addresses: list[str] = Field(default_factory=list)
    user_agents: list[str] = Field(default_factory=list)

    @field_validator("addresses")
    @classmethod
    def _check_addresses(cls, value: list[str]) -> list[str]:
        for index, item in enumerate(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"item {index} {item!r} is not an IP address or CIDR") from exc
        return value

    @field_validator("user_agents")
    @classmethod
    def _check_patterns(cls, value: list[str]) -> list[str]:
        for index, item in enumerate(value):
            try:
                re.compile(item)
            except re.error as exc:
                raise ValueError(f"item {index} {item!r} is not a valid regular expression: {exc}") from exc
        return value


class Webhook(_Strict):
    url: str | None = None
    min_action: Action = "alert"
    timeout: Duration = parse_duration("5s")
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Duration = parse_duration("1s")
    queue_size: int = Field(default=1000, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


class Policy(_Strict):
    simulate: bool = False
    scenarios: Scenarios = Scenarios()
    escalation: Escalation = Escalation()
    dedup: Dedup = Dedup()
    allow: Allow = Allow()
    webhook: Webhook = Webhook()


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a policy file (.toml, .yaml or .yml); None reads the default policy."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path.name}: cannot read the policy file: {exc}") from exc
    return parse_policy(text, path.name)


def parse_policy(text: str, name: str = "policy.toml") -> Policy:
    """Validate policy text; `name` picks the format by extension and prefixes every error."""
    data = _decode(text, name)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, name)) from exc


def _decode(text: str, name: str) -> dict[str, Any]:
    suffix = Path(name).suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{name}: invalid TOML: {exc}") from exc
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{name}: invalid YAML: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise PolicyError(f"{name}: expected a mapping at the top level, got {type(data).__name__}")
        return data
    raise PolicyError(f"{name}: unsupported policy format {suffix!r}; use .toml, .yaml or .yml")


def _describe(exc: ValidationError, name: str) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {field}: {message}")
    return "\n".join(lines)
