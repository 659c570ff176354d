"""Policy loading and validation: errors name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.policy import (
    DEFAULT_POLICY_PATH,
    Policy,
    PolicyError,
    format_duration,
    load_policy,
    parse_duration,
    parse_policy,
)


def test_policy_default_file_matches_code_defaults() -> None:
    assert load_policy(DEFAULT_POLICY_PATH) == Policy()


def test_policy_none_reads_default_file() -> None:
    assert load_policy(None) == load_policy(DEFAULT_POLICY_PATH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[scenarios.brute_force]\nfailed_logins = 0\n",
            "policy.toml: scenarios.brute_force.failed_logins: Input should be greater than 0",
        ),
        (
            "[scenarios.brute_force]\nfailed_login = 5\n",
            "policy.toml: scenarios.brute_force.failed_login: Extra inputs are not permitted",
        ),
        (
            '[scenarios.flood]\nduration = "ten minutes"\n',
            "policy.toml: scenarios.flood.duration: invalid duration 'ten minutes'",
        ),
        (
            "[scenarios.flood]\nduration = 600\n",
            "policy.toml: scenarios.flood.duration: expected a duration string like '4h'",
        ),
        (
            '[scenarios.scanning]\naction = "ban"\n',
            "policy.toml: scenarios.scanning.action: Input should be 'allow', 'monitor', 'alert'",
        ),
        (
            "[scenarios.injection_attempt]\nsignal = 1.5\n",
            "policy.toml: scenarios.injection_attempt.signal: Input should be less than or equal to 1",
        ),
        (
            '[allow]\naddresses = ["10.0.0.0/8", "not-an-ip"]\n',
            "policy.toml: allow.addresses: item 1 'not-an-ip' is not an IP address or CIDR",
        ),
        (
            '[allow]\nuser_agents = ["(unclosed"]\n',
            "policy.toml: allow.user_agents: item 0 '(unclosed' is not a valid regular expression",
        ),
        (
            '[webhook]\nurl = "ftp://example.org/hook"\n',
            "policy.toml: webhook.url: expected an http:// or https:// URL, got 'ftp://example.org/hook'",
        ),
        (
            "[escalation]\nfactor = 0.5\n",
            "policy.toml: escalation.factor: Input should be greater than or equal to 1",
        ),
    ],
    ids=[
        "zero_threshold",
        "unknown_key",
        "bad_duration",
        "number_duration",
        "bad_action",
        "share_above_one",
        "bad_cidr",
        "bad_regex",
        "bad_url",
        "factor_below_one",
    ],
)
def test_policy_error_names_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policy.toml")
    assert str(info.value).startswith(expected)


def test_policy_reports_every_invalid_field() -> None:
    text = "[scenarios.brute_force]\nfailed_logins = -1\n[scenarios.flood]\nrate_per_min = 0\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policy.toml")
    message = str(info.value)
    assert "scenarios.brute_force.failed_logins" in message
    assert "scenarios.flood.rate_per_min" in message


def test_policy_invalid_toml_gives_line() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("simulate = true\n[scenarios\n", "custom.toml")
    assert str(info.value).startswith("custom.toml: invalid TOML")
    assert "line 2" in str(info.value)


def test_policy_invalid_yaml_gives_line() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("simulate: true\nscenarios: [unclosed\n", "policy.yaml")
    assert str(info.value).startswith("policy.yaml: invalid YAML")
    assert "line" in str(info.value)


def test_policy_yaml_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(
        "simulate: true\n"
        "scenarios:\n"
        "  brute_force:\n"
        "    failed_logins: 4\n"
        "    duration: 2h\n"
        "allow:\n"
        "  addresses: ['192.0.2.0/24']\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.simulate is True
    assert policy.scenarios.brute_force.failed_logins == 4
    assert policy.scenarios.brute_force.duration == 7200
    assert policy.allow.addresses == ["192.0.2.0/24"]
    assert policy.scenarios.flood == Policy().scenarios.flood


def test_policy_yaml_top_level_list_rejected() -> None:
    with pytest.raises(PolicyError, match="expected a mapping at the top level, got list"):
        parse_policy("- a\n- b\n", "policy.yaml")


def test_policy_empty_yaml_is_default() -> None:
    assert parse_policy("", "policy.yaml") == Policy()


def test_policy_unknown_extension_rejected() -> None:
    with pytest.raises(PolicyError, match=r"policy.json: unsupported policy format '.json'"):
        parse_policy("{}", "policy.json")


def test_policy_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"absent\.toml: cannot read the policy file"):
        load_policy(tmp_path / "absent.toml")


def test_policy_webhook_empty_url_is_disabled() -> None:
    assert parse_policy('[webhook]\nurl = ""\n').webhook.url is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("4h", 14_400), ("1h30m", 5400), ("7d", 604_800), ("0.5s", 0.5), ("2H", 7200)],
)
def test_policy_duration_parsed(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "4", "h", "4x", "-4h", "4h 30m", "0s", "1h-"])
def test_policy_duration_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(3600, "1h"), (5400, "1h30m"), (604_800, "168h"), (90, "1m30s"), (0.2, "1s")]
)
def test_policy_duration_formatted(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=10 * 365 * 86_400))
def test_policy_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
