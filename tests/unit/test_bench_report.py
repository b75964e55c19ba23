"""Benchmark summary maths and the Markdown table."""

from __future__ import annotations

import pytest

from tutorloop.bench.report import render_markdown, summarize


def cell(method: str, seed: int, acc: float, correct: str, *, positions: list[int] | None = None,
         tokens: int = 0, tput: float | None = 1000.0, notes: list[str] | None = None) -> dict:
    return {"dataset": "d", "method": method, "seed": seed, "status": "ok", "accuracy": acc,
            "macro_f1": acc / 2,
            "llm_tokens": tokens, "wall_s": 2.0, "throughput": tput, "n_eval": len(positions or correct),
            "notes": notes or [], "positions": positions, "correct": correct}


def test_mean_std_and_accuracy_on_the_llm_sample() -> None:
    cells = [
        cell("clf", 0, 0.6, "1100110011"), cell("clf", 1, 0.4, "0000111100"),
        cell("zero-shot-llm", 0, 0.5, "10", positions=[0, 2], tokens=300, tput=2.0, notes=["sample"]),
        cell("zero-shot-llm", 1, 1.0, "11", positions=[4, 9], tokens=500, tput=4.0, notes=["sample"]),
        {"dataset": "d", "method": "clf", "seed": 2, "status": "error"},
    ]
    rows = {r["method"]: r for r in summarize(cells)}
    clf, llm = rows["clf"], rows["zero-shot-llm"]
    assert clf["seeds"] == 2 and clf["accuracy_mean"] == pytest.approx(0.5)
    assert clf["accuracy_std"] == pytest.approx(0.1414, abs=1e-4)
    assert clf["macro_f1_mean"] == pytest.approx(0.25)
    # seed 0: positions 0 and 2 -> "1", "0" -> 0.5; seed 1: positions 4 and 9 -> "1", "0" -> 0.5
    assert clf["acc_on_llm_sample"] == pytest.approx(0.5)
    assert llm["acc_on_llm_sample"] == pytest.approx(0.75) and llm["llm_tokens_mean"] == 400
    assert llm["throughput_mean"] == 3.0 and llm["notes"] == ["sample"]


def test_markdown_table_and_speedup() -> None:
    rows = summarize([cell("clf", 0, 0.9, "1" * 10, tput=3000.0),
                      cell("zero-shot-llm", 0, 0.8, "1" * 4, positions=[0, 1, 2, 3], tokens=1234, tput=1.5)])
    md = render_markdown({"meta": {"command": "tutorloop bench x", "seeds": [0],
                                   "settings": {"k": 8, "classifier": "embed"}}, "summary": rows})
    assert "Command: `tutorloop bench x`" in md
    assert "| d | clf | 90.0 ± 0.0 | 45.0 ± 0.0 | 100.0 | 0 | 2.0 s | 3,000.0 | 10 |" in md
    assert "| d | zero-shot-llm | 80.0 ± 0.0 |" in md and "1,234" in md
    assert "d / clf: 2,000× the zero-shot LLM's throughput" in md
