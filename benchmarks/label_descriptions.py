"""Do label descriptions drafted by the LLM make better anchors than the bare label names?

For each data set folder: the LLM drafts a one-line description per label (``tutorloop init``'s prompt, from
the label names and the task's one-line description in ``benchmarks/tasks.yaml``), then the sentence
encoder's nearest-anchor prediction is scored on the test set with three anchors per label: the name, the
drafted ``name: description``, and, where ``tasks.yaml`` has them, the human-written descriptions. Gold
labels are read only to score. Writes ``benchmarks/results/label_descriptions.json``.

Usage::

    python benchmarks/label_descriptions.py --data ../shared/benchmarks/trec --data ../shared/benchmarks/sst2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from tutorloop.bench.datasets import load_dataset
from tutorloop.bench.tasks import default_tasks_path, load_tasks
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.llm import get_llm
from tutorloop.loop.describe import describe_labels
from tutorloop.loop.task import Task


def score(encoder: Any, texts: list[str], gold: list[str], names: list[str], anchors: list[str]) -> dict:
    sims = encoder.encode(texts, max_seq_length=256) @ encoder.encode(anchors, max_seq_length=256).T
    pred = [names[int(i)] for i in sims.argmax(axis=1)]
    return {
        "accuracy": round(float(accuracy_score(gold, pred)), 4),
        "macro_f1": round(float(f1_score(gold, pred, average="macro", labels=names, zero_division=0)), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--llm", default="local")
    ap.add_argument("--out", default="benchmarks/results/label_descriptions.json")
    args = ap.parse_args()
    specs = load_tasks(default_tasks_path())
    llm = get_llm(args.llm)  # cached: a rerun drafts nothing again
    encoder = get_encoder()
    rows = []
    for spec_path in args.data:
        ds = load_dataset(spec_path)
        names = list(ds.labels)
        spec = specs.get(ds.name)
        task = Task.from_labels(spec.description if spec else "Classify each text.", names)
        t0 = time.perf_counter()
        drafted = describe_labels(task, llm)
        secs = time.perf_counter() - t0
        row: dict[str, Any] = {"data": ds.name, "labels": len(names), "draft_seconds": round(secs, 1)}
        row["names"] = score(encoder, ds.texts, ds.gold, names, names)
        anchors = [f"{n}: {drafted[n]}" if n in drafted else n for n in names]
        row["drafted"] = score(encoder, ds.texts, ds.gold, names, anchors)
        human = spec.label_descriptions if spec else {}
        if human:
            anchors = [f"{n}: {human[n]}" if n in human else n for n in names]
            row["human"] = score(encoder, ds.texts, ds.gold, names, anchors)
        row["drafted_descriptions"] = drafted
        print(json.dumps({k: v for k, v in row.items() if k != "drafted_descriptions"}), flush=True)
        rows.append(row)
    Path(args.out).write_text(
        json.dumps({"rows": rows, "llm": args.llm}, indent=2, ensure_ascii=False) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
