"""Which student a finished pool-setting run's labels support best (offline, no LLM).

Reads a finished ``tutorloop-pool`` run folder (its teacher labels, validation labels and label anchors),
embeds its unlabelled pool and a labelled test folder with the run's encoder, and fits the embed head
(logistic regression, as ``EmbedClassifier`` fits it) in several ways on the same labels:

- the teacher's labels alone;
- the teacher's labels plus the prior's self-labels (the loop's student) at each self-label weight the
  loop tries, and the weight the loop's own rule picks (best trusted-validation accuracy, ties to the
  lighter weight);
- the teacher's labels weighted by agreement with the prior (1 where they agree, 0.5 where not);
- student self-training: starting from the loop's student, relabel the pool with the student's own
  most confident share per label (instead of the prior's), refit, and repeat.

Each is scored on the test set (gold read only here) and on the run's validation texts (all, and the
trusted ones where the teacher agrees with the prior), for round 0's training set and the last round's.
For scale, the same head's ceiling on this encoder: 5-fold cross-validated accuracy and macro-F1 on the
test set's gold labels (what a frozen probe reaches with correct labels, whatever the teacher). Nothing
here feeds back into a run.

    python benchmarks/pool_students.py --run bench-results/pool/runs/sst2/seed0/tutorloop-pool \\
        --data ../shared/benchmarks/sst2 --out benchmarks/results/pool_students_sst2.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers.embed import EmbedClassifier
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.data.io import iter_texts
from tutorloop.data.store import Store
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.label_space import ANCHORS_JOB
from tutorloop.loop.pool import POOL, SELF
from tutorloop.loop.pool_select import confident_per_label, margins, prior_labels
from tutorloop.loop.train import SELF_WEIGHTS

try:
    from _results import write_results
except ImportError:  # run from the repository root as a module
    from benchmarks._results import write_results

SHARE = 0.3  # the loop's default self_label_share
ITERATIONS = 3


class Head:
    """The embed classifier's head on precomputed embeddings, probabilities in label order."""

    def __init__(self, n_labels: int) -> None:
        defaults = EmbedClassifier()
        self.n = n_labels
        self.lr = LogisticRegression(C=defaults.C, max_iter=2000, class_weight=defaults.class_weight)

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Head:
        self.lr.fit(x, y, sample_weight=w)
        return self

    def proba(self, x: np.ndarray) -> np.ndarray:
        p = np.zeros((len(x), self.n))
        p[:, self.lr.classes_] = self.lr.predict_proba(x)
        return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="finished tutorloop-pool run folder")
    ap.add_argument("--data", required=True, help="folder with test.jsonl, labels.json, unlabelled.jsonl")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.monotonic()
    ds = load_dataset(args.data)
    labels = list(ds.labels)
    n = len(labels)
    code = {lab: i for i, lab in enumerate(labels)}
    gold = [str(g) for g in ds.gold]
    assert ds.unlabelled_file is not None, "the data folder needs unlabelled.jsonl"
    pool = [t for batch in iter_texts(str(ds.unlabelled_file), "text") for t in batch]
    index = {t: i for i, t in enumerate(pool)}
    store = Store(args.run / "store.sqlite")
    try:
        choice = store.job_result(ANCHORS_JOB) or {}
        rows = store.examples(status=None)
        rounds = [int(r["round"]) for r in store.rounds()]
        train_at = {r: store.train_set_at(r) for r in (rounds[0], rounds[-1])}
    finally:
        store.close()
    drafted = choice.get("descriptions", {}) if choice.get("use") == "drafted" else {}
    anchor_texts = [f"{lab}: {drafted[lab]}" if lab in drafted else lab for lab in labels]
    enc = get_encoder(json.loads((args.run / "config.json").read_text())["config"].get("encoder"))
    print(f"embedding {len(pool):,} pool texts and {len(ds.texts):,} test texts ...", flush=True)
    xp = enc.encode(pool, max_seq_length=256)
    xt = enc.encode(list(ds.texts), max_seq_length=256)
    anchors = enc.encode(anchor_texts, max_seq_length=256)
    prior, margin = prior_labels(xp, anchors)
    val = [e for e in rows if e["split"] == "val" and e["text"] in index]
    vi = np.array([index[e["text"]] for e in val])
    vy = np.array([code[e["label"]] for e in val])
    trusted = prior[vi] == vy

    def score(head: Head, name: str, start: int, w_self: float | None = None) -> dict[str, Any]:
        test = evaluate(gold, [labels[i] for i in head.proba(xt).argmax(axis=1)], labels)
        hits = head.proba(xp[vi]).argmax(axis=1) == vy
        row = {
            "student": name,
            "training_set_of_round": start,
            "self_label_weight": w_self,
            "test_macro_f1": round(100 * float(test["macro_f1"]), 1),
            "test_accuracy": round(100 * float(test["accuracy"]), 1),
            "val_accuracy": round(100 * float(hits.mean()), 1),
            "val_trusted_accuracy": round(100 * float(hits[trusted].mean()), 1),
        }
        print(
            f"round {start:>2} {name:44s} test F1 {row['test_macro_f1']:5.1f} acc {row['test_accuracy']:5.1f}"
            f" | val {row['val_accuracy']:5.1f} trusted {row['val_trusted_accuracy']:5.1f}",
            flush=True,
        )
        return row

    results: list[dict[str, Any]] = []
    for r, train in train_at.items():
        teacher = [e for e in train if e["origin"] == POOL]
        self_rows = [e for e in train if e["origin"] == SELF]
        ti = np.array([index[e["text"]] for e in teacher])
        ty = np.array([code[e["label"]] for e in teacher])
        si = np.array([index[e["text"]] for e in self_rows])
        used = set(ti.tolist()) | set(vi.tolist())
        results.append(score(Head(n).fit(xp[ti], ty), "teacher labels only", r))
        agree = np.where(prior[ti] == ty, 1.0, 0.5)
        results.append(score(Head(n).fit(xp[ti], ty, agree), "teacher labels weighted by agreement", r))
        loop: tuple[dict[str, Any], Head, float] | None = None
        for w in SELF_WEIGHTS[1:]:  # the loop's rule: best trusted accuracy, ties to the lighter weight
            x, y = np.concatenate([xp[ti], xp[si]]), np.concatenate([ty, prior[si]])
            head = Head(n).fit(x, y, np.r_[np.ones(len(ti)), np.full(len(si), w)])
            row = score(head, f"teacher + prior self-labels, w={w}", r, w)
            results.append(row)
            if loop is None or row["val_trusted_accuracy"] > loop[0]["val_trusted_accuracy"]:
                loop = (row, head, w)
        assert loop is not None
        loop[0]["loop_choice"] = True
        head = loop[1]
        for it in range(1, ITERATIONS + 1):
            p = head.proba(xp)
            guess = p.argmax(axis=1)
            chosen = [int(i) for i in confident_per_label(guess, margins(p), SHARE) if int(i) not in used]
            x, y = np.concatenate([xp[ti], xp[chosen]]), np.concatenate([ty, guess[chosen]])
            head = Head(n).fit(x, y, np.r_[np.ones(len(ti)), np.full(len(chosen), loop[2])])
            results.append(score(head, f"student self-training, iteration {it}", r, loop[2]))
    folds = cross_val_predict(Head(n).lr, xt, [code[g] for g in gold], cv=5)
    ceiling = evaluate(gold, [labels[i] for i in folds], labels)
    print(f"gold-label ceiling (5-fold CV on the test set): acc {ceiling['accuracy']:.3f}", flush=True)
    write_out = {
        "run": str(args.run),
        "data": str(args.data),
        "n_test": len(gold),
        "anchors": "drafted descriptions" if drafted else "label names",
        "n_val": len(val),
        "n_val_trusted": int(trusted.sum()),
        "self_label_share": SHARE,
        "students": results,
        "gold_label_ceiling_5fold_cv": {
            "test_macro_f1": round(100 * float(ceiling["macro_f1"]), 1),
            "test_accuracy": round(100 * float(ceiling["accuracy"]), 1),
        },
        "seconds": round(time.monotonic() - t0, 1),
    }
    if args.out:
        write_results(args.out, write_out)


if __name__ == "__main__":
    main()
