"""The teacher labelling real texts with every label listed, or only a shortlist of the most similar ones.

For a data set folder (``test.jsonl`` + ``labels.json``), a seeded sample of test texts is labelled blind by
the LLM three ways, as the loop would label pool texts:

- ``all``: every label in the prompt, ``batch`` texts per call (the loop's old ``verify_batch`` default:
  1 up to 8 labels, else 8); the fixed prompt prefix is served by llama.cpp's prompt cache;
- ``all-1``: every label, one text per call;
- ``shortlist-1``: one text per call, offered its ``k`` labels most similar in the sentence encoder's space
  (label names as anchors);
- ``shortlist-b``: texts grouped by their most similar label, ``batch`` per call, offered the union of
  their shortlists.

Gold labels are used only to score. Prints and writes accuracy, the shortlist's recall (gold label inside
it), prompt and completion tokens, and seconds per text.

Usage::

    python benchmarks/label_shortlist.py --data ../shared/benchmarks/banking77 --n 80 --k 8
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from tutorloop.bench.datasets import load_dataset
from tutorloop.bench.tasks import default_tasks_path, load_tasks
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.llm import get_llm
from tutorloop.llm.ledger import Ledger
from tutorloop.loop.llm_tasks import LABEL
from tutorloop.loop.pool_select import shortlists
from tutorloop.loop.task import Task


def label_all(llm: Any, task: Task, texts: list[str], batches: list[list[int]], cands: Any) -> list[str]:
    out = [""] * len(texts)
    for b, cand in zip(batches, cands, strict=True):
        job = LABEL.job(task, [texts[i] for i in b], "benchmark", candidates=cand)
        reply = llm.structured_many([job])[0]
        if not isinstance(reply, Exception):
            for i, lab in zip(b, reply.labels, strict=True):
                out[i] = lab
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--llm", default="local")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--variants", default="all,all-1,shortlist-1,shortlist-b", help="comma-separated")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    names = list(ds.labels)
    specs = load_tasks(default_tasks_path())
    spec = specs.get(ds.name)
    task = Task.from_labels(spec.description if spec else "Classify each text.", names)
    rows = list(zip(ds.texts, ds.gold, strict=True))
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.n]
    texts, gold = [r[0] for r in rows], [r[1] for r in rows]
    enc = get_encoder()
    sims = enc.encode(texts, max_seq_length=256) @ enc.encode(names, max_seq_length=256).T
    prior = sims.argmax(axis=1)
    short1 = shortlists(sims, [[i] for i in range(len(texts))], args.k)
    grouped = sorted(range(len(texts)), key=lambda i: (int(prior[i]), i))
    gbatches = [grouped[j : j + args.batch] for j in range(0, len(grouped), args.batch)]
    full_batch = 1 if len(names) <= 8 else args.batch
    variants = {
        "all": (
            [list(range(j, min(j + full_batch, len(texts)))) for j in range(0, len(texts), full_batch)],
            None,
        ),
        "all-1": ([[i] for i in range(len(texts))], None),
        "shortlist-1": ([[i] for i in range(len(texts))], short1),
        "shortlist-b": (gbatches, shortlists(sims, gbatches, args.k)),
    }
    results: dict[str, Any] = {}
    base = get_llm(args.llm, cache=False)
    path = Path(args.out or f"benchmarks/results/label_shortlist_{ds.name}.json")
    if path.is_file():  # earlier variants of the same sample are kept
        old = json.loads(path.read_text())
        if (old.get("n"), old.get("k"), old.get("batch")) == (len(texts), args.k, args.batch):
            results.update(old.get("variants", {}))
    for name, (batches, cand_idx) in variants.items():
        if name not in args.variants.split(","):
            continue
        cands = [None] * len(batches) if cand_idx is None else [[names[j] for j in c] for c in cand_idx]
        ledger = Ledger()
        llm = base.recording_to(ledger)
        t0 = time.perf_counter()
        pred = label_all(llm, task, texts, batches, cands)
        secs = time.perf_counter() - t0
        usage = ledger.summary()
        recall = None
        if cand_idx is not None:
            member = {i: set(c) for b, c in zip(batches, cand_idx, strict=True) for i in b}
            recall = float(np.mean([names.index(g) in member[i] for i, g in enumerate(gold)]))
        results[name] = {
            "accuracy": round(float(np.mean([p == g for p, g in zip(pred, gold, strict=True)])), 4),
            "shortlist_recall": None if recall is None else round(recall, 4),
            "mean_labels_offered": round(float(np.mean([len(c) if c else len(names) for c in cands])), 1),
            "calls": int(usage["calls"]),
            "prompt_tokens_per_text": round(usage["prompt_tokens"] / len(texts), 1),
            "completion_tokens_per_text": round(usage["completion_tokens"] / len(texts), 1),
            "seconds_per_text": round(secs / len(texts), 2),
        }
        print(name, json.dumps(results[name]), flush=True)
    sim_acc = float(np.mean([names[int(p)] == g for p, g in zip(prior, gold, strict=True)]))
    out = {
        "data": ds.name,
        "n": len(texts),
        "k": args.k,
        "batch": args.batch,
        "labels": len(names),
        "zero_shot_sim_accuracy": round(sim_acc, 4),
        "variants": results,
        "machine": f"{platform.platform()}, {platform.processor() or 'cpu'}",
        "command": f"python benchmarks/label_shortlist.py --data {args.data} --n {args.n} --k {args.k}",
    }
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"similarity accuracy {sim_acc:.3f}; wrote {path}")


if __name__ == "__main__":
    main()
