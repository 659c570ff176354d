"""Golden corpus: each log line in tests/golden/*.yaml with the exact event or rejection beside it.

Each case has `line` (and optionally `header` for CSV, `encoding` to send the
line as bytes in that encoding, `crlf` to end it with CRLF, `format` and
`options` for parse_batch). It expects either `expect` (the event's `to_ecs()` dict) and
`detected` (the format auto-detection picked), or `reject` (the start of the
rejection reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.parsers import ParseResult, parse_batch

GOLDEN = Path(__file__).parent / "golden"


def load_cases() -> list[Any]:
    cases = []
    for path in sorted(GOLDEN.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def run_case(case: dict[str, Any]) -> ParseResult:
    line: str | bytes = case["line"]
    if "encoding" in case:
        line = case["line"].encode(case["encoding"])
    if case.get("crlf"):
        line = line + (b"\r\n" if isinstance(line, bytes) else "\r\n")
    batch = [case["header"], line] if "header" in case else [line]
    return parse_batch(batch, format=case.get("format", "auto"), **case.get("options", {}))


@pytest.mark.parametrize("case", load_cases())
def test_parsers_golden_case(case: dict[str, Any]) -> None:
    result = run_case(case)

    assert result.received == (2 if "header" in case else 1)
    if "reject" in case:
        assert result.events == []
        assert len(result.errors) == result.received - result.header_lines
        assert result.errors[0].reason.startswith(case["reject"])
    else:
        assert result.errors == []
        assert result.format == case["detected"]
        assert result.events[0].to_ecs() == case["expect"]


def test_parsers_golden_ecs_dotted_and_nested_agree() -> None:
    cases = {case["name"]: case for case in yaml.safe_load((GOLDEN / "json.yaml").read_text(encoding="utf-8"))}

    dotted = run_case(cases["ecs dotted keys"]).events[0]
    nested = run_case(cases["ecs nested keys give the same event"]).events[0]

    assert dotted == nested
