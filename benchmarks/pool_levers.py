"""Three changes to the pool-setting student, measured offline on finished runs' own labels (no LLM).

For each finished ``tutorloop-pool`` run given, and for round 0's training set and the last round's, the
embed head (logistic regression on frozen encoder embeddings, as ``EmbedClassifier`` fits it) is refitted
on the run's stored rows and scored on the test set's gold labels (read only here):

- **self-label weight rule.** The head at every self-label weight the loop tries (0, 0.1, 0.3, 1), and
  the weight each rule picks: the loop's (accuracy on the *trusted* validation texts, where teacher and
  prior agree, then macro-F1 on all of them), accuracy on all validation texts among weights above 0, and
  the best weight on test (an oracle, for scale).
- **confident learning** (Northcutt et al., 2021) at the round's own weight: out-of-fold probabilities
  (5-fold), a per-label threshold (the mean probability of a label over the rows that carry it), and a row
  flagged when its label's probability falls below that label's threshold while another label's clears
  its own. The head is refitted without the flagged teacher labels, and without every flagged row.
- **lexical features** at the round's own weight: the embedding concatenated with the ``tfidf``
  classifier's word and character n-gram TF-IDF features, in one logistic regression (the tfidf
  classifier's vectorizers and ``C``; fitted on the round's training texts).

Nothing here feeds back into a run; it measures whether each change is worth building into the loop.

    python benchmarks/pool_levers.py \\
        --run sst2=bench-results/pool/runs/sst2/seed0/tutorloop-pool \\
        --run trec=bench-results/pool/runs/trec/seed0/tutorloop-pool \\
        --benchmarks ../shared/benchmarks --out benchmarks/results/pool_levers.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers.embed import EmbedClassifier
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.classifiers.tfidf import TfidfClassifier
from tutorloop.data.io import iter_texts
from tutorloop.data.store import ExampleRow, Store
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.label_space import ANCHORS_JOB
from tutorloop.loop.pool import POOL, SELF
from tutorloop.loop.pool_select import prior_labels
from tutorloop.loop.train import SELF_WEIGHTS

try:
    from _results import machine, write_results
except ImportError:  # run as a module from the repository root
    from benchmarks._results import machine, write_results

FOLDS = 5
VARIANTS = (
    "rule_trusted_then_f1",
    "rule_val_accuracy_w_gt_0",
    "oracle_weight",
    "cl_drop_flagged_teacher",
    "cl_drop_all_flagged",
    "embed_plus_tfidf",
)
"""What each round's row records beside its ``baseline`` (test macro-F1 of the round's own student)."""


class Embedded:
    """One benchmark folder's pool and test texts, embedded once, and its gold labels."""

    def __init__(self, folder: Path, encoder: str | None = None) -> None:
        ds = load_dataset(str(folder))
        assert ds.unlabelled_file is not None, f"{folder} needs unlabelled.jsonl"
        self.labels = list(ds.labels)
        self.code = {lab: i for i, lab in enumerate(self.labels)}
        self.test_texts = list(ds.texts)
        self.gold = [str(g) for g in ds.gold]
        self.pool = [t for batch in iter_texts(str(ds.unlabelled_file), "text") for t in batch]
        self.index = {t: i for i, t in enumerate(self.pool)}
        self.encoder = get_encoder(encoder)
        print(
            f"{folder}: embedding {len(self.pool):,} pool and {len(self.test_texts):,} test texts", flush=True
        )
        self.xp = self.encode(self.pool)
        self.xt = self.encode(self.test_texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(texts, max_seq_length=256))

    def rows_x(self, rows: list[ExampleRow]) -> np.ndarray:
        """Embeddings of ``rows`` (pool texts from the cache, others embedded now)."""
        out = np.zeros((len(rows), self.xp.shape[1]))
        known = [i for i, e in enumerate(rows) if e["text"] in self.index]
        out[known] = self.xp[[self.index[rows[i]["text"]] for i in known]]
        other = [i for i, e in enumerate(rows) if e["text"] not in self.index]
        if other:
            out[other] = self.encode([rows[i]["text"] for i in other])
        return out

    def test_f1(self, proba: np.ndarray) -> float:
        pred = [self.labels[i] for i in proba.argmax(axis=1)]
        return round(100 * float(evaluate(self.gold, pred, self.labels)["macro_f1"]), 1)


def head(c: float | None = None) -> LogisticRegression:
    defaults = EmbedClassifier()
    return LogisticRegression(C=c or defaults.C, max_iter=3000, class_weight=defaults.class_weight)


def proba(model: LogisticRegression, x: Any, n: int) -> np.ndarray:
    p = np.zeros((x.shape[0], n))
    p[:, model.classes_] = model.predict_proba(x)
    return p


def label_issues(x: np.ndarray, y: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Confident learning's off-diagonal rows (see the module docstring), from out-of-fold probabilities."""
    counts = np.bincount(y, minlength=n)
    folds = max(2, min(FOLDS, int(counts[counts > 0].min())))
    oof = np.zeros((len(y), n))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
        oof[te] = proba(head().fit(x[tr], y[tr], sample_weight=w[tr]), x[te], n)
    thresholds = np.array([oof[y == j, j].mean() if (y == j).any() else 1.0 for j in range(n)])
    above = oof >= thresholds[None, :]
    above[np.arange(len(y)), y] = False
    return (oof[np.arange(len(y)), y] < thresholds[y]) & above.any(axis=1)


def measure_run(name: str, run: Path, data: Embedded) -> list[dict[str, Any]]:
    store = Store(run / "store.sqlite")
    try:
        choice = store.job_result(ANCHORS_JOB) or {}
        rounds = store.rounds()
        chosen = {int(r["round"]): r.get("analysis") or {} for r in rounds}
        last = max(chosen)
        train_at = {r: store.train_set_at(r) for r in sorted({0, last})}
        val = [e for e in store.examples(split="val") if e["text"] in data.index]
    finally:
        store.close()
    n, labels = len(data.labels), data.labels
    drafted = choice.get("descriptions", {}) if choice.get("use") == "drafted" else {}
    anchors = data.encode([f"{lab}: {drafted[lab]}" if lab in drafted else lab for lab in labels])
    prior, _ = prior_labels(data.xp, anchors)
    vi = np.array([data.index[e["text"]] for e in val])
    vy = np.array([data.code[e["label"]] for e in val])
    trusted = prior[vi] == vy
    out = []
    for r, train in train_at.items():
        loop_w = float(chosen[r].get("self_label_weight", 1.0))
        row: dict[str, Any] = {"run": name, "round": r, "loop_weight": loop_w, "weights": {}}
        for w_self in SELF_WEIGHTS:
            rows = [e for e in train if e["origin"] != SELF or w_self > 0]
            x, y = data.rows_x(rows), np.array([data.code[e["label"]] for e in rows])
            w = np.array([w_self if e["origin"] == SELF else 1.0 for e in rows])
            model = head().fit(x, y, sample_weight=w)
            val_pred = proba(model, data.xp[vi], n).argmax(axis=1)
            hits = val_pred == vy
            val_f1 = evaluate([labels[i] for i in vy], [labels[i] for i in val_pred], labels)
            row["weights"][str(w_self)] = {
                "test_macro_f1": data.test_f1(proba(model, data.xt, n)),
                "val_accuracy": round(100 * float(hits.mean()), 1),
                "val_macro_f1": round(100 * float(val_f1["macro_f1"]), 1),
                "val_trusted_accuracy": round(100 * float(hits[trusted].mean()), 1),
            }
            if w_self != loop_w:
                continue
            row["baseline"] = row["weights"][str(w_self)]["test_macro_f1"]
            issues = label_issues(x, y, w, n)
            teacher = np.array([e["origin"] == POOL for e in rows])
            row["flagged"] = {
                "teacher": int((issues & teacher).sum()),
                "of_teacher": int(teacher.sum()),
                "other": int((issues & ~teacher).sum()),
                "of_other": int((~teacher).sum()),
            }
            for key, drop in (("cl_drop_flagged_teacher", issues & teacher), ("cl_drop_all_flagged", issues)):
                keep = ~drop
                row[key] = data.test_f1(
                    proba(head().fit(x[keep], y[keep], sample_weight=w[keep]), data.xt, n)
                )
            features = TfidfClassifier()._build().named_steps["features"]
            xs = features.fit_transform([e["text"] for e in rows])
            both = sparse.hstack([sparse.csr_matrix(x), xs]).tocsr()
            both_t = sparse.hstack([sparse.csr_matrix(data.xt), features.transform(data.test_texts)]).tocsr()
            row["embed_plus_tfidf"] = data.test_f1(proba(head().fit(both, y, sample_weight=w), both_t, n))
        ws = row["weights"]
        loop_rule = max(ws, key=lambda k: (ws[k]["val_trusted_accuracy"], ws[k]["val_macro_f1"], -float(k)))
        val_rule = max((k for k in ws if float(k) > 0), key=lambda k: (ws[k]["val_accuracy"], -float(k)))
        row["rule_trusted_then_f1"] = ws[loop_rule]["test_macro_f1"]
        row["rule_val_accuracy_w_gt_0"] = ws[val_rule]["test_macro_f1"]
        row["oracle_weight"] = max(v["test_macro_f1"] for v in ws.values())
        shown = {k: row[k] for k in ("baseline", *VARIANTS)}
        print(
            f"{name} round {r} (loop weight {loop_w}): " + ", ".join(f"{k} {v}" for k, v in shown.items()),
            flush=True,
        )
        out.append(row)
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean change against the baseline per variant, per set and overall."""
    sets = sorted({r["run"].split(":")[0] for r in rows})
    out: dict[str, Any] = {}
    for s in [*sets, "all"]:
        sel = [r for r in rows if s == "all" or r["run"].split(":")[0] == s]
        out[s] = {"n": len(sel)} | {
            k: round(float(np.mean([r[k] - r["baseline"] for r in sel])), 2) for k in VARIANTS
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="SET=RUN_FOLDER (repeatable)")
    ap.add_argument("--benchmarks", type=Path, default=Path("../shared/benchmarks"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.monotonic()
    embedded: dict[tuple[str, str | None], Embedded] = {}
    rows: list[dict[str, Any]] = []
    for spec in args.run:
        name, _, folder = spec.partition("=")
        saved = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        key = (name, saved["config"].get("encoder"))  # each run refitted in its own encoder's space
        if key not in embedded:
            embedded[key] = Embedded(args.benchmarks / name, key[1])
        rows += measure_run(f"{name}:{folder}", Path(folder), embedded[key])
    result = {
        "note": "change in test macro-F1 (points) against each round's own student (the loop's weight)",
        "mean_change": summary(rows),
        "rounds": rows,
        "machine": machine(),
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(result["mean_change"])
    if args.out:
        write_results(args.out, result)


if __name__ == "__main__":
    main()
