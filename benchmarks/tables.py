"""Markdown tables for the README from the committed benchmark JSON files.

    python benchmarks/tables.py [--results benchmarks/results]

Reads ``bench_results.json`` (written by ``tutorloop bench``) and ``loop_rounds_*.json`` (written by
``benchmarks/loop_rounds.py``) and prints the per-method table and the per-round table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METHODS = ("tutorloop", "single-pass", "zero-shot-sim", "zero-shot-llm", "few-shot-setfit")


def method_table(results: dict) -> str:
    cells = {(c["dataset"], c["method"]): c for c in results["cells"]}
    datasets = list(dict.fromkeys(c["dataset"] for c in results["cells"]))
    lines = ["| set | method | n scored | accuracy | macro-F1 | LLM tokens | wall s | inference texts/s |",
             "|---|---|---|---|---|---|---|---|"]
    for ds in datasets:
        for m in METHODS:
            c = cells.get((ds, m))
            if c is None:
                lines.append(f"| {ds} | {m} | not run | | | | | |")
                continue
            tput = f"{c['throughput']:,.0f}" if c.get("throughput") else ""
            if m == "zero-shot-llm" and c.get("throughput"):
                tput = f"{c['throughput']:.2f}"
            lines.append(f"| {ds} | {m} | {c['n_eval']} | {c['accuracy']:.3f} | {c['macro_f1']:.3f} | "
                         f"{c['llm_tokens']:,} | {c['wall_s']:.0f} | {tput} |")
    return "\n".join(lines)


def rounds_table(paths: list[Path]) -> str:
    lines = ["| set | round | train examples | val acc | val macro-F1 | test acc | test macro-F1 | tokens |",
             "|---|---|---|---|---|---|---|---|"]
    for path in paths:
        data = json.loads(path.read_text())
        name = Path(data["data"]).name
        best = data["best_round_by_val"]
        for r in data["rounds"]:
            mark = " (kept)" if r["round"] == best else ""
            lines.append(f"| {name} | {r['round']}{mark} | {r['n_train']} | {r['val_accuracy']:.3f} | "
                         f"{r['val_macro_f1']:.3f} | {r['test_accuracy']:.3f} | {r['test_macro_f1']:.3f} | "
                         f"{r['tokens_total']:,} |")
        zs = data["zero_shot_similarity_bare_names"]
        lines.append(f"| {name} | zero-shot similarity | | | | {zs['accuracy']:.3f} | "
                     f"{zs['macro_f1']:.3f} | |")
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
