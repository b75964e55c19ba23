"""Ledger: per-call rows, totals that exclude cache hits, cost estimates, JSONL persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tutorloop.errors import DataError
from tutorloop.llm import FakeLLM, Ledger, ResponseCache


class Label(BaseModel):
    label: str


def _row(ledger: Ledger, pt: int, ct: int, cached: bool = False, latency: float = 0.5) -> None:
    ledger.record(
        backend="fake",
        model="m",
        purpose="curate",
        prompt_tokens=pt,
        completion_tokens=ct,
        latency_s=latency,
        cached=cached,
    )


def test_summary_totals_count_only_paid_calls() -> None:
    ledger = Ledger(cost_per_1k=(1.0, 2.0))
    _row(ledger, 100, 10)
    _row(ledger, 200, 20, latency=1.5)
    _row(ledger, 999, 999, cached=True)
    s = ledger.summary()
    assert s["calls"] == 3 and s["cache_hits"] == 1
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_tokens"]) == (300, 30, 330)
    assert s["work_tokens"] == 330 + 1998  # cached replies count as work, not as paid tokens
    assert s["llm_seconds"] == 2.0
    assert s["cost_usd"] == round(300 / 1000 * 1.0 + 30 / 1000 * 2.0, 6)


def test_jsonl_persistence_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run" / "ledger.jsonl"
    ledger = Ledger(path)
    _row(ledger, 5, 6)
    _row(ledger, 7, 8, cached=True)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["cached"] is True
    again = Ledger(path)
    assert again.summary() == ledger.summary()
    _row(again, 1, 1)
    assert len(path.read_text().splitlines()) == 3


def test_llm_calls_land_in_the_ledger_with_purpose(tmp_path: Path) -> None:
    llm = FakeLLM(replies=[{"label": "a"}], cache=ResponseCache(tmp_path / "c.sqlite"))
    llm.ledger = Ledger(tmp_path / "ledger.jsonl")
    llm.structured("one two three", Label, purpose="check")
    llm.structured("one two three", Label, purpose="check")  # cache hit, still recorded
    rows = [json.loads(x) for x in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [r["cached"] for r in rows] == [False, True]
    assert rows[0]["purpose"] == "check" and rows[0]["prompt_tokens"] == 3
    assert llm.ledger.summary()["prompt_tokens"] == 3


def test_a_torn_last_line_is_cut_off_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    _row(ledger, 100, 10)
    _row(ledger, 200, 20)
    with path.open("a") as fh:  # a crash or a full disk in the middle of the third row
        fh.write('{"backend": "fake", "model": "m", "purp')
    with pytest.warns(UserWarning, match="last line was cut short"):
        resumed = Ledger(path)
    assert resumed.summary()["prompt_tokens"] == 300
    _row(resumed, 300, 30)  # the next row starts on a line of its own
    assert Ledger(path).summary()["prompt_tokens"] == 600
    assert len(path.read_text().splitlines()) == 3


def test_a_lost_final_newline_does_not_merge_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    _row(Ledger(path), 100, 10)
    path.write_text(path.read_text().rstrip("\n"))
    resumed = Ledger(path)
    _row(resumed, 200, 20)
    assert Ledger(path).summary()["prompt_tokens"] == 300


def test_a_bad_line_before_the_last_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    _row(ledger, 100, 10)
    _row(ledger, 200, 20)
    lines = path.read_text().splitlines()
    path.write_text(f"{lines[0]}\nnot json\n{lines[1]}\n")
    with pytest.raises(DataError, match=r"ledger.jsonl, line 2: not a ledger row"):
        Ledger(path)
