"""Sentence encoders compared on what the student needs from them, with no LLM: texts/s, zero-shot
similarity to the label names, and pool self-training (nearest-label pseudo-labels on the unlabelled pool,
the 30% highest-margin per label, a logistic-regression head), scored on the test set.

    python benchmarks/encoders.py --data ../shared/benchmarks/sst2 --data ../shared/benchmarks/trec \\
        --encoders all-MiniLM-L6-v2,all-mpnet-base-v2 --pool 2000 --out benchmarks/results/encoders.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from sklearn.linear_model import LogisticRegression

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers.encoder import get_encoder
from tutorloop.data.io import iter_texts
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.pool_select import confident_per_label, prior_labels


def score(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, float]:
    m = evaluate(gold, pred, labels)
    return {"accuracy": round(float(m["accuracy"]), 4), "macro_f1": round(float(m["macro_f1"]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--encoders", default="all-MiniLM-L6-v2,all-mpnet-base-v2")
    ap.add_argument("--pool", type=int, default=2000, help="unlabelled texts sampled (seed 0)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for spec in args.data:
        ds = load_dataset(spec)
        labels = list(ds.labels)
        pool = [t for batch in iter_texts(str(ds.unlabelled_file), "text") for t in batch]
        pool = random.Random(0).sample(pool, min(args.pool, len(pool)))
        for name in args.encoders.split(","):
            enc = get_encoder(name)
            t0 = time.perf_counter()
            xt = enc.encode(list(ds.texts), max_seq_length=256)
            tps = len(ds.texts) / (time.perf_counter() - t0)
            xp = enc.encode(pool, max_seq_length=256)
            anchors = enc.encode(labels, max_seq_length=256)
            zero = [labels[i] for i in (xt @ anchors.T).argmax(axis=1)]
            prior, margin = prior_labels(xp, anchors)
            keep = confident_per_label(prior, margin, 0.3)
            head = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
            head.fit(xp[keep], prior[keep])
            self_pred = [labels[i] for i in head.predict(xt)]
            row = {
                "data": ds.name,
                "encoder": name,
                "texts_per_s": round(tps, 1),
                "zero_shot_sim": score(ds.gold, zero, labels),
                "pool_self_training": score(ds.gold, self_pred, labels),
                "pool": len(pool),
                "n_test": len(ds.texts),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
