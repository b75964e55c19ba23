"""Markdown tables for the README from the committed benchmark JSON files.

    python benchmarks/tables.py [--results benchmarks/results]

Reads ``bench_results.json`` (written by ``tutorloop bench``) and ``loop_rounds_*.json`` (written by
``benchmarks/loop_rounds.py``) and prints the per-method table, the goals and the per-round table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tutorloop.bench.report import goal_table, goals, summary_table


def method_table(results: dict) -> str:
    """The per-method table (mean ± std over seeds) and the goals, as ``tutorloop bench`` reports them."""
    rows = results["summary"]
    return "\n".join([*summary_table(rows), *goal_table(goals(rows))])


def rounds_table(paths: list[Path]) -> str:
    lines = [
        "| set | round | train examples | val acc | val macro-F1 | test acc | test macro-F1 | tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        data = json.loads(path.read_text())
        name = Path(data["data"]).name
        best = data["best_round_by_val"]
        for r in data["rounds"]:
            mark = " (kept)" if r["round"] == best else ""
            lines.append(
                f"| {name} | {r['round']}{mark} | {r['n_train']} | {r['val_accuracy']:.3f} | "
                f"{r['val_macro_f1']:.3f} | {r['test_accuracy']:.3f} | {r['test_macro_f1']:.3f} | "
                f"{r['tokens_total']:,} |"
            )
        zs = data["zero_shot_similarity_bare_names"]
        lines.append(
            f"| {name} | zero-shot similarity | | | | {zs['accuracy']:.3f} | {zs['macro_f1']:.3f} | |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    bench = args.results / "bench_results.json"
    if bench.is_file():
        print(method_table(json.loads(bench.read_text())))
        print()
    paths = sorted(args.results.glob("loop_rounds_*.json"))
    if paths:
        print(rounds_table(paths))


if __name__ == "__main__":
    main()
