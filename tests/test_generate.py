"""Tests of the synthetic traffic generator: determinism, labels, parsing and the committed history."""

from __future__ import annotations

import csv
import gzip
import itertools
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import generate as gen
from data.records import iso_utc
from data.scenarios import NAMES
from stream.parsers import parse_batch

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "data" / "history" / "benign-history.log.gz"
HISTORY_ARGS = {"events": 100_000, "seed": 1, "start": "2024-03-04T00:00:00-03:00", "benign_only": True}


@pytest.fixture(scope="module")
def default_mix() -> list[gen.Record]:
    return gen.generate()


@pytest.fixture(scope="module")
def default_files(tmp_path_factory: pytest.TempPathFactory, default_mix: list[gen.Record]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mix")
    gen.write(default_mix, folder / "mix.log", folder / "mix.labels.csv")
    return {
        "log": folder / "mix.log",
        "labels": folder / "mix.labels.csv",
        "attackers": folder / "mix.labels.attackers.csv",
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_files(folder: Path, **options: object) -> dict[str, bytes]:
    records = gen.generate(**options)  # type: ignore[arg-type]
    gen.write(records, folder / "out.log", folder / "out.csv")
    names = ("out.log", "out.csv", "out.attackers.csv")
    return {name: (folder / name).read_bytes() for name in names}


# Determinism


def test_generate_same_seed_same_bytes(tmp_path: Path) -> None:
    first = write_files(tmp_path / "a", events=20_000, seed=3)
    second = write_files(tmp_path / "b", events=20_000, seed=3)
    assert first == second


def test_generate_other_seed_differs(tmp_path: Path) -> None:
    first = write_files(tmp_path / "a", events=20_000, seed=3)
    second = write_files(tmp_path / "b", events=20_000, seed=4)
    assert first["out.log"] != second["out.log"]
    assert first["out.csv"] != second["out.csv"]


def test_write_gzip_reproducible(tmp_path: Path) -> None:
    records = gen.generate(events=3_000, seed=5)
    gen.write(records, tmp_path / "a.log.gz")
    gen.write(records, tmp_path / "b.log.gz")
    assert (tmp_path / "a.log.gz").read_bytes() == (tmp_path / "b.log.gz").read_bytes()
    text = gzip.decompress((tmp_path / "a.log.gz").read_bytes()).decode("utf-8")
    assert text.splitlines() == [record.line for record in records]


@pytest.mark.slow
def test_history_file_matches_generator(tmp_path: Path) -> None:
    records = gen.generate(**HISTORY_ARGS)  # type: ignore[arg-type]
    gen.write(records, tmp_path / "history.log.gz")
    assert HISTORY.exists(), f"{HISTORY} is missing; see data/history/README.md"
    assert (tmp_path / "history.log.gz").read_bytes() == HISTORY.read_bytes(), (
        "data/history/benign-history.log.gz is stale; regenerate it with the command in data/history/README.md"
    )


# Labels


def test_labels_one_row_per_line(default_files: dict[str, Path]) -> None:
    lines = default_files["log"].read_text(encoding="utf-8").splitlines()
    rows = read_csv(default_files["labels"])
    assert len(rows) == len(lines) == gen.DEFAULT_EVENTS
    assert [int(row["line"]) for row in rows] == list(range(1, len(lines) + 1))
    assert {row["label"] for row in rows} == {"0", "1"}
    for row in rows:
        assert (row["label"] == "0") == (row["scenario"] == "benign")


def test_generate_default_attack_share(default_mix: list[gen.Record]) -> None:
    attacks = sum(record.label for record in default_mix)
    assert attacks == round(gen.DEFAULT_EVENTS * gen.DEFAULT_ATTACK_RATE)
    assert 0.05 <= attacks / len(default_mix) <= 0.12


def test_generate_default_mix_has_every_scenario(default_mix: list[gen.Record]) -> None:
    scenarios = Counter(record.scenario for record in default_mix)
    for name in NAMES:
        assert scenarios[name] > 0, f"scenario {name} missing from the default mix"


def test_generate_default_mix_spans_one_to_two_days(default_mix: list[gen.Record]) -> None:
    hours = (default_mix[-1].timestamp - default_mix[0].timestamp) / 3600
    assert 24 <= hours <= 48


def test_attackers_first_line_is_first_label(default_files: dict[str, Path]) -> None:
    rows = read_csv(default_files["labels"])
    first_rows: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["label"] == "1":
            first_rows.setdefault(row["client"], row)
    attackers = read_csv(default_files["attackers"])
    assert {item["client"] for item in attackers} == set(first_rows)
    for item in attackers:
        row = first_rows[item["client"]]
        assert item["first_line"] == row["line"]
        assert item["first_attack"] == row["timestamp"]
        assert item["scenario"] == row["scenario"]


def test_attackers_first_attack_matches_log_time(default_files: dict[str, Path]) -> None:
    lines = default_files["log"].read_text(encoding="utf-8").splitlines()
    for item in read_csv(default_files["attackers"])[:50]:
        number = int(item["first_line"])
        event = parse_batch([lines[number - 1]], format="combined").events[0]
        assert event.client == item["client"]
        assert iso_utc(event.timestamp) == item["first_attack"]


def test_attacker_clients_stay_in_one_scenario(default_mix: list[gen.Record]) -> None:
    scenarios_per_client: dict[str, set[str]] = {}
    for record in default_mix:
        scenarios_per_client.setdefault(record.client, set()).add(record.scenario)
    for client, names in scenarios_per_client.items():
        if names != {"benign"}:
            assert len(names) == 1, f"client {client} appears in {sorted(names)}"


def test_generate_scenarios_subset_only_those() -> None:
    records = gen.generate(events=20_000, seed=2, attack_rate=0.1, scenarios=["flood", "injection"])
    assert {record.scenario for record in records} == {"benign", "flood", "injection"}
    assert sum(record.label for record in records) == 2_000


def test_generate_benign_mode_has_no_attacks() -> None:
    records = gen.generate(events=20_000, seed=2, attack_rate=0.3, benign_only=True)
    assert len(records) == 20_000
    assert all(record.label == 0 and record.scenario == "benign" for record in records)


# Parsing and time order


@pytest.mark.parametrize("fmt", ["combined", "json"])
def test_generate_lines_parse_without_errors(fmt: str) -> None:
    records = gen.generate(events=30_000, seed=11, attack_rate=0.15, format=fmt)
    result = parse_batch([record.line for record in records], format=fmt)
    assert result.errors == []
    assert len(result.events) == len(records)
    for event, record in zip(result.events, records, strict=True):
        assert event.client == record.client
        assert event.timestamp == pytest.approx(record.timestamp, abs=1e-3)
        assert event.tags == ()


@pytest.mark.parametrize("fmt", ["combined", "json"])
def test_generate_timestamps_non_decreasing(fmt: str) -> None:
    records = gen.generate(events=30_000, seed=12, attack_rate=0.15, format=fmt)
    stamps = [record.timestamp for record in records]
    assert all(earlier <= later for earlier, later in itertools.pairwise(stamps))


def test_generate_escapes_quotes_in_headers() -> None:
    records = gen.generate(events=40_000, seed=7, attack_rate=0.3, scenarios=["injection"])
    quoted = [record for record in records if '\\"' in record.line]
    assert quoted, "expected shellshock agents or XSS referrers with escaped quotes"
    events = parse_batch([record.line for record in quoted], format="combined").events
    assert len(events) == len(quoted)
    for event in events:
        assert '"' in (event.user_agent_original or "") + (event.http_request_referrer or "")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.integers(min_value=1, max_value=1_500),
    seed=st.integers(min_value=0, max_value=2**32),
    attack_rate=st.floats(min_value=0.0, max_value=gen.MAX_ATTACK_RATE),
)
def test_generate_counts_hold_for_any_arguments(events: int, seed: int, attack_rate: float) -> None:
    records = gen.generate(events=events, seed=seed, attack_rate=attack_rate)
    assert len(records) == events
    assert sum(record.label for record in records) == round(events * attack_rate)
    stamps = [record.timestamp for record in records]
    assert stamps == sorted(stamps)
    assert parse_batch([record.line for record in records], format="combined").errors == []


# Realism of the benign traffic


def test_generate_night_quieter_than_evening(default_mix: list[gen.Record]) -> None:
    per_hour: Counter[int] = Counter()
    for record in default_mix:
        if record.label == 0:
            per_hour[time.gmtime(record.timestamp - 3 * 3600).tm_hour] += 1
    # The mix starts at local midnight and lasts about 34 hours, so hours 0-9 occur twice.
    night = (per_hour[3] + per_hour[4]) / 2
    evening = per_hour[20] + per_hour[21]
    assert evening > 2 * night


def test_generate_clients_heavy_tailed(default_mix: list[gen.Record]) -> None:
    per_client = Counter(record.client for record in default_mix if record.label == 0)
    counts = sorted(per_client.values())
    assert len(counts) > 1_000
    assert counts[-20] > 10 * statistics.median(counts)
    assert any(":" in client for client in per_client), "expected IPv6 customers"


def test_benign_has_crawlers_probe_app(default_mix: list[gen.Record]) -> None:
    benign = [record.line for record in default_mix if record.label == 0]
    for marker in ("Googlebot/2.1", "bingbot/2.0", "kube-probe/", "TiendaApp/", "GET /health ", " 401 "):
        assert any(marker in line for line in benign), f"no benign line contains {marker!r}"


# Errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"events": 0}, "invalid events 0"),
        ({"attack_rate": 1.5}, "invalid attack rate 1.5"),
        ({"scenarios": ["ddos"]}, "unknown scenarios ['ddos']; accepted: brute_force"),
        ({"start": "yesterday"}, "invalid start 'yesterday'"),
        ({"format": "xml"}, "unknown format 'xml'"),
    ],
)
def test_generate_rejects_bad_arguments(options: dict[str, object], message: str) -> None:
    arguments = {"events": 10, **options}
    with pytest.raises(gen.GenerateError, match=re.escape(message)):
        gen.generate(**arguments)  # type: ignore[arg-type]


def test_main_rejects_unknown_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--events", "10", "--out", str(tmp_path / "x.log"), "--scenarios", "flood,ddos"])
    assert exit_info.value.code == 2
    assert "unknown scenarios ['ddos']" in capsys.readouterr().err
    assert not (tmp_path / "x.log").exists()


def test_main_writes_log_labels_and_attackers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "mix.labels.csv"
    code = gen.main(["--events", "5000", "--seed", "9", "--format", "json",
                     "--out", str(tmp_path / "mix.jsonl"), "--labels", str(labels)])
    assert code == 0
    assert len((tmp_path / "mix.jsonl").read_text(encoding="utf-8").splitlines()) == 5_000
    assert len(read_csv(labels)) == 5_000
    assert read_csv(tmp_path / "mix.labels.attackers.csv")
    assert "5000 lines" in capsys.readouterr().err
