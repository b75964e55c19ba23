"""Benchmark summary maths and the Markdown table."""

from __future__ import annotations

import pytest

from tutorloop.bench.report import goals, render_markdown, summarize


def cell(
    method: str,
    seed: int,
    acc: float,
    correct: str,
    *,
    positions: list[int] | None = None,
    tokens: int = 0,
    tput: float | None = 1000.0,
    notes: list[str] | None = None,
) -> dict:
    return {
        "dataset": "d",
        "method": method,
        "seed": seed,
        "status": "ok",
        "accuracy": acc,
        "macro_f1": acc / 2,
        "llm_tokens": tokens,
        "wall_s": 2.0,
        "throughput": tput,
        "n_eval": len(positions or correct),
        "notes": notes or [],
        "positions": positions,
        "correct": correct,
    }


def test_mean_std_and_accuracy_on_the_llm_sample() -> None:
    cells = [
        cell("clf", 0, 0.6, "1100110011"),
        cell("clf", 1, 0.4, "0000111100"),
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
    rows = summarize(
        [
            cell("clf", 0, 0.9, "1" * 10, tput=3000.0),
            cell("zero-shot-llm", 0, 0.8, "1" * 4, positions=[0, 1, 2, 3], tokens=1234, tput=1.5),
        ]
    )
    md = render_markdown(
        {
            "meta": {
                "command": "tutorloop bench x",
                "seeds": [0],
                "settings": {"k": 8, "classifier": "embed"},
            },
            "summary": rows,
        }
    )
    assert "Command: `tutorloop bench x`" in md
    # one seed: no spread to show
    assert "| d | clf | 1 | 90.0 | 45.0 | 100.0 | 0 | 2.0 s | 3,000.0 | 10 |" in md
    assert "| d | zero-shot-llm | 1 | 80.0 |" in md and "1,234" in md
    assert "d / clf: 2,000× the zero-shot LLM's throughput" in md


def test_two_seeds_show_the_spread() -> None:
    rows = summarize([cell("clf", 0, 0.6, "1" * 10), cell("clf", 1, 0.8, "1" * 10)])
    md = render_markdown({"meta": {"seeds": [0, 1], "settings": {}}, "summary": rows})
    assert "| d | clf | 2 | 70.0 ± 14.1 | 35.0 ± 7.1 |" in md


def test_goals_compare_tutorloop_with_each_baseline() -> None:
    cells = [
        cell("tutorloop", 0, 0.7, "1010101111", tput=1500.0),
        cell("single-pass", 0, 0.8, "1" * 10),
        cell("zero-shot-sim", 0, 0.6, "1" * 10),
        cell("zero-shot-llm", 0, 0.5, "10", positions=[0, 1], tput=1.0),
    ]
    checks = {g["goal"]: g for g in goals(summarize(cells))}
    assert checks["≥ zero-shot-sim (macro-F1)"]["met"]
    assert checks["≥ zero-shot-sim (macro-F1)"]["gap"] == pytest.approx(0.05)
    single = checks["≥ single-pass (macro-F1)"]
    assert not single["met"] and single["gap"] == pytest.approx(-0.05)
    # tutorloop got positions 0 and 1 -> "1", "0": 50% against the LLM's 50% on the same texts
    assert checks["≥ zero-shot-llm (acc. on LLM sample)"]["met"]
    assert checks["inference ≥ 1,000× zero-shot-llm"]["gap"] == pytest.approx(1500.0)
    md = render_markdown({"meta": {"seeds": [0], "settings": {}}, "summary": summarize(cells)})
    assert "| d | ≥ single-pass (macro-F1) | no | 35.0 | 40.0 | -5.0 | 1, 1 |" in md
    assert "The student beats its teacher on 1 of 1 data sets" in md


def test_goals_skip_a_baseline_that_was_not_run() -> None:
    checks = goals(summarize([cell("tutorloop", 0, 0.7, "1" * 10)]))
    assert checks == []
