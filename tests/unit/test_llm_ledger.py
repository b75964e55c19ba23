"""Ledger: per-call rows, totals that exclude cache hits, cost estimates, JSONL persistence."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

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
