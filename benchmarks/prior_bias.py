"""The label-prior head's bias: free (as the loop trained it before 2026-12-05) or penalised like V (since).

Refits a finished zero-shot run's training set (its kept round) with the ``embed`` student both ways, and
scores each on the data set's full test set and on the run's own (synthetic) validation texts; plain
similarity to the label anchors is the reference. No LLM: the run's stored examples only.

    python benchmarks/prior_bias.py --run bench-results/zeroshot-onepass/runs/banking77/seed1/tutorloop \\
        --data ../shared/benchmarks/banking77 --out benchmarks/results/prior_bias_banking77_seed1.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers.embed import EmbedClassifier
from tutorloop.data.store import Store
from tutorloop.evaluation.analysis import best_round
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.label_space import label_anchors
from tutorloop.loop.task import Task

try:
    from _results import machine, write_results
except ImportError:  # run as a module from the repository root
    from benchmarks._results import machine, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="finished zero-shot tutorloop run folder")
    ap.add_argument("--data", required=True, help="folder with test.jsonl and labels.json")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.monotonic()
    ds = load_dataset(args.data)
    gold = [str(g) for g in ds.gold]
    task = Task.from_yaml(args.run / "task.yaml")
    anchors = label_anchors(task)
    store = Store(args.run / "store.sqlite")
    try:
        config = json.loads((args.run / "config.json").read_text())["config"]
        best = best_round(store.rounds(), float(config["min_improvement"]))
        assert best is not None, f"{args.run} has no finished round"
        kept = int(best["round"])
        train = store.train_set_at(kept)
        val = [e for e in store.examples(status="active") if e["split"] == "val"]
    finally:
        store.close()
    texts, labels = [e["text"] for e in train], [e["label"] for e in train]
    rows: list[dict[str, Any]] = []
    similarity = EmbedClassifier(label_anchors=anchors, prior_strength=1e9, prior_penalise_bias=True)
    free = EmbedClassifier(label_anchors=anchors, prior_penalise_bias=False)
    students = [
        ("similarity to the anchors (the head held at the prior)", similarity),
        ("label-prior head, bias free (the loop's student before 2026-12-05)", free),
        (
            "label-prior head, bias penalised (the default since)",
            EmbedClassifier(label_anchors=anchors, prior_penalise_bias=True),
        ),
    ]
    for name, clf in students:
        clf.fit(texts, labels)
        test = evaluate(gold, [str(p) for p in clf.predict(list(ds.texts))], list(ds.labels))
        hits = [str(p) == e["label"] for p, e in zip(clf.predict([e["text"] for e in val]), val, strict=True)]
        row = {
            "student": name,
            "test_macro_f1": round(100 * float(test["macro_f1"]), 1),
            "test_accuracy": round(100 * float(test["accuracy"]), 1),
            "val_accuracy": round(100 * sum(hits) / max(1, len(hits)), 1),
        }
        print(row, flush=True)
        rows.append(row)
    result = {
        "run": str(args.run),
        "data": str(args.data),
        "round": kept,
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(gold),
        "students": rows,
        "seconds": round(time.monotonic() - t0, 1),
        "machine": machine(),
    }
    if args.out:
        write_results(args.out, result)


if __name__ == "__main__":
    main()
