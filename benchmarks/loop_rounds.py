"""Per-round real-test scores of finished tutorloop runs (offline analysis, after the run).

The loop only ever sees its own validation data. This script reads a finished run folder, rebuilds the
training set that was active at the end of each round (``Store.train_set_at``), refits the run's classifier
kind on it and scores it on a labelled test folder (``test.jsonl`` + ``labels.json``), next to the loop's
own validation scores, tokens and time. It also scores the same encoder's zero-shot similarity to the bare
label names on the same test texts, the baseline the loop must beat. Nothing here feeds back into a run.

    python benchmarks/loop_rounds.py --run bench-results/runs/sst2/seed0/tutorloop \\
        --data ../shared/benchmarks/sst2 --out benchmarks/results/loop_rounds_sst2.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.data.store import Store
from tutorloop.evaluation.analysis import best_round
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.label_space import label_anchors
from tutorloop.loop.pool import pool_validation
from tutorloop.loop.task import Task
from tutorloop.loop.train import fit_rows, round_self_weight


def round_scores(run_dir: Path, texts: list[str], gold: list[str], labels: list[str]) -> list[dict]:
    """One row per recorded round: the loop's validation scores and the refitted model's test scores."""
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    kind = saved.get("classifier") or "embed"
    encoder = saved["config"].get("encoder")  # the run's sentence encoder (None: the default)
    store = Store(run_dir / "store.sqlite")
    task = Task.from_yaml(run_dir / "task.yaml")
    for name, desc in store.get_meta("descriptions", {}).items():
        task = task.with_description(name, desc)
    # the loop's own student: label anchors in the zero-shot setting, self-label weights in the pool one
    anchors = None
    if task.unlabelled is None and saved["config"].get("label_prior", False):
        anchors = label_anchors(task)
    try:
        rows = []
        for rnd in store.rounds():
            r = int(rnd["round"])
            w_self = round_self_weight(store, r)
            model, train = fit_rows(kind, anchors, store.train_set_at(r), w_self, encoder)
            m = evaluate(gold, [str(p) for p in model.predict(texts)], labels)
            rows.append(
                {
                    "round": r,
                    "n_train": len(train),
                    "val_accuracy": rnd.get("accuracy"),
                    "val_macro_f1": rnd.get("macro_f1"),
                    "val_trusted_accuracy": rnd.get("trusted_accuracy"),
                    "val_log_loss": rnd.get("log_loss"),
                    "test_accuracy": round(float(m["accuracy"]), 4),
                    "test_macro_f1": round(float(m["macro_f1"]), 4),
                    "tokens_round": rnd.get("tokens"),
                    "tokens_total": rnd.get("tokens_total"),
                    "seconds_round": rnd.get("seconds"),
                    "decided_by": rnd.get("decided_by"),
                }
            )
        if task.unlabelled is not None:  # what refit_with_validation would have saved
            kept = best_round([_as_round(r) for r in rows], saved["config"].get("min_improvement", 0.001))
            if kept is not None:
                rows.append(_refit_row(store, kind, encoder, kept["round"], rows, texts, gold, labels))
        return rows
    finally:
        store.close()


def _refit_row(
    store: Store,
    kind: str,
    encoder: str | None,
    kept: int,
    rows: list[dict],
    texts: list[str],
    gold: list[str],
    labels: list[str],
) -> dict:
    """The kept round refit on its training set plus the LLM-labelled validation texts (what the loop
    saves in the pool setting with ``refit_with_validation=True``)."""
    examples = store.train_set_at(kept) + pool_validation(store)
    model, train = fit_rows(kind, None, examples, round_self_weight(store, kept), encoder)
    m = evaluate(gold, [str(p) for p in model.predict(texts)], labels)
    base = next(r for r in rows if r["round"] == kept)
    return {
        **base,
        "round": f"{kept} refit",
        "n_train": len(train),
        "test_accuracy": round(float(m["accuracy"]), 4),
        "test_macro_f1": round(float(m["macro_f1"]), 4),
    }


def kendall_tau(val: list[float], test: list[float]) -> float | None:
    """Rank correlation of validation and test macro-F1 across rounds (None under 3 rounds or constant).

    >>> kendall_tau([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])
    1.0
    """
    if len(val) < 3 or len(set(val)) < 2 or len(set(test)) < 2:
        return None
    from scipy.stats import kendalltau

    return round(float(kendalltau(val, test).statistic), 3)


def _as_round(row: dict) -> dict:
    return {
        "round": row["round"],
        "macro_f1": row["val_macro_f1"],
        "log_loss": row["val_log_loss"],
        "trusted_accuracy": row.get("val_trusted_accuracy"),
    }


def zero_shot_similarity(texts: list[str], gold: list[str], labels: list[str], name: str | None) -> dict:
    encoder = get_encoder(name)
    x = np.asarray(encoder.encode(texts), dtype=np.float32)
    a = np.asarray(encoder.encode(labels), dtype=np.float32)
    pred = [labels[i] for i in np.argmax(x @ a.T, axis=1)]
    m = evaluate(gold, pred, labels)
    return {"accuracy": round(float(m["accuracy"]), 4), "macro_f1": round(float(m["macro_f1"]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="finished run folder")
    ap.add_argument("--data", required=True, help="test folder: test.jsonl + labels.json")
    ap.add_argument("--out", type=Path, help="JSON file to write")
    args = ap.parse_args()

    ds = load_dataset(args.data)
    texts, gold, labels = list(ds.texts), list(ds.gold), list(ds.labels)
    t0 = time.monotonic()
    rows = round_scores(args.run, texts, gold, labels)
    run_encoder = json.loads((args.run / "config.json").read_text())["config"].get("encoder")
    baseline = zero_shot_similarity(texts, gold, labels, run_encoder)
    ledger_path = args.run / "ledger.jsonl"
    entries = [json.loads(line) for line in ledger_path.read_text().splitlines() if line.strip()]
    paid = [e for e in entries if not e["cached"]]
    saved = json.loads((args.run / "config.json").read_text())
    min_improvement = saved["config"].get("min_improvement", 0.001)
    # the loop's own rule for the round it keeps
    per_round = [r for r in rows if isinstance(r["round"], int)]
    best_val = best_round([_as_round(r) for r in per_round], min_improvement)
    best = next(r for r in rows if r["round"] == best_val["round"]) if best_val is not None else None
    # the score the loop chose rounds by: trusted accuracy when the run recorded it, else macro-F1
    chosen_by = (
        "val_trusted_accuracy"
        if all(r.get("val_trusted_accuracy") is not None for r in per_round)
        else "val_macro_f1"
    )
    test_f1 = [r["test_macro_f1"] for r in per_round]
    tau = kendall_tau([r[chosen_by] for r in per_round], test_f1)
    result = {
        "run": str(args.run),
        "kendall_tau_val_test": tau,
        "tau_validation_score": chosen_by,
        # the same rank correlation for accuracy on all validation texts (not what the loop chooses by)
        "kendall_tau_all_val_accuracy_test": kendall_tau([r["val_accuracy"] for r in per_round], test_f1),
        "data": str(args.data),
        "n_test": len(texts),
        "rounds": rows,
        "best_round_by_val": best["round"] if best else None,
        "zero_shot_similarity_bare_names": baseline,
        "llm_calls": len(entries),
        "llm_tokens_paid": sum(e["prompt_tokens"] + e["completion_tokens"] for e in paid),
        "llm_seconds_paid": round(sum(e["latency_s"] for e in paid), 1),
        "analysis_seconds": round(time.monotonic() - t0, 1),
    }
    print(
        f"{ds.name}: zero-shot similarity acc {baseline['accuracy']:.3f} / "
        f"macro-F1 {baseline['macro_f1']:.3f}"
    )
    print("round  n_train  val_acc  val_F1  test_acc  test_F1  tokens")
    for r in rows:
        print(
            f"{r['round']!s:>5}  {r['n_train']:>7}  {r['val_accuracy']:.3f}    {r['val_macro_f1']:.3f}   "
            f"{r['test_accuracy']:.3f}     {r['test_macro_f1']:.3f}    {r['tokens_total']}"
        )
    print(f"Kendall tau (validation vs test macro-F1 across rounds): {tau}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
