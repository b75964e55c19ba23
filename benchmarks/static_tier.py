"""The static tier against embed and tfidf: what it costs in accuracy, what it gains in speed.

For each data set folder (``test.jsonl``, ``labels.json``, ``unlabelled.jsonl``) the three kinds train on
the SAME pseudo-labels, made without any LLM as ``pool-self-training`` makes them
(:mod:`tutorloop.bench.pool_methods`): a seeded sample of ``--pool`` unlabelled texts is labelled by its
nearest label name in the sentence encoder's space, and the ``--share`` highest-margin texts of each label
are kept. No gold label is read except to score.

Each kind is fitted, saved, loaded back with ``tutorloop.classifiers.load`` (the deployed form: ONNX int8
for embed, numpy + tokenizers for static) and measured on the whole test set:

- macro-F1 and accuracy,
- batched throughput (texts/s; the test set is predicted repeatedly until ``--min-seconds`` have passed),
- single-text latency p50 over ``--n-single`` one-text calls,

plus the encoder's own zero-shot prediction (the pseudo-labeller) for reference. The first static fit
distils the full vocabulary once per machine (minutes; cached in ``$TUTORLOOP_HOME/static``).
Writes ``benchmarks/results/static_tier.json``.

Usage::

    python benchmarks/static_tier.py                       # sst2, ag_news, banking77 from ../shared
    python benchmarks/static_tier.py --data ../shared/benchmarks/sst2 --kinds static,embed
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import machine, write_results
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", type=Path, help="data set folder (repeatable)")
    p.add_argument("--kinds", default="tfidf,embed,static")
    p.add_argument("--pool", type=int, default=3000, help="unlabelled texts pseudo-labelled")
    p.add_argument("--share", type=float, default=None, help="kept per label (default: pool-self-training's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads")
    p.add_argument("--min-seconds", type=float, default=3.0, help="batched timing runs at least this long")
    p.add_argument("--n-single", type=int, default=200, help="one-text calls for latency")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "static_tier.json")
    p.add_argument("--workdir", type=Path, default=None, help="where models are saved (default: temp dir)")
    args = p.parse_args(argv)
    args.data = args.data or [SHARED / name for name in ("sst2", "ag_news", "banking77")]
    return args


def pseudo_labels(ds: Any, pool: int, share: float, seed: int) -> tuple[list[str], list[str], dict]:
    """pool-self-training's labels: nearest label name, highest-margin ``share`` per label."""
    from tutorloop.classifiers.encoder import get_encoder
    from tutorloop.data.io import iter_texts
    from tutorloop.loop.pool_select import confident_per_label, prior_labels

    if not ds.unlabelled_file:
        raise SystemExit(f"{ds.source} has no unlabelled.jsonl")
    texts = [t for batch in iter_texts(ds.unlabelled_file, "text") for t in batch]
    if len(texts) > pool:
        texts = random.Random(f"{seed}:pool").sample(texts, pool)  # as pool_methods.pool_texts samples
    encoder = get_encoder()
    labels = list(ds.labels)
    prior, margin = prior_labels(encoder.encode(texts), encoder.encode(labels))
    chosen = confident_per_label(prior, margin, share)
    info = {"pool": len(texts), "share": share, "n_train": int(len(chosen))}
    info["labels_present"] = int(len(set(prior[chosen].tolist())))
    return [texts[i] for i in chosen], [labels[int(prior[i])] for i in chosen], info


def zero_shot(ds: Any) -> dict[str, float]:
    """The pseudo-labeller itself on the test set: nearest label name."""
    from tutorloop.classifiers.encoder import get_encoder

    encoder = get_encoder()
    sims = encoder.encode(ds.texts) @ encoder.encode(list(ds.labels)).T
    return _scores(ds, [ds.labels[int(i)] for i in sims.argmax(axis=1)])


def _scores(ds: Any, pred: list[str]) -> dict[str, float]:
    f1 = f1_score(ds.gold, pred, average="macro", labels=list(ds.labels), zero_division=0)
    return {"macro_f1": round(float(f1), 4), "accuracy": round(float(accuracy_score(ds.gold, pred)), 4)}


def _throughput(predict: Any, texts: list[str], min_seconds: float) -> tuple[float, int]:
    predict(texts[:64])  # warm-up
    runs, start = 0, time.perf_counter()
    while True:
        predict(texts)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return runs * len(texts) / elapsed, runs


def bench_kind(kind: str, ds: Any, train: tuple[list[str], list[str]], args: argparse.Namespace) -> dict:
    from tutorloop.classifiers import load, make_classifier

    start = time.perf_counter()
    clf = make_classifier(kind).fit(*train)
    fit_s = time.perf_counter() - start
    path = clf.save(args.workdir / ds.name / kind)
    model = load(path, threads=args.threads)
    pred = [str(p) for p in model.predict(ds.texts)]
    tput, runs = _throughput(model.predict, ds.texts, args.min_seconds)
    times = []
    for text in ds.texts[: args.n_single]:
        t0 = time.perf_counter()
        model.predict([text])
        times.append((time.perf_counter() - t0) * 1000)
    return {
        **_scores(ds, pred),
        "texts_per_s": round(tput, 1),
        "timed_runs": runs,
        "single_p50_ms": round(statistics.median(times), 3),
        "fit_s": round(fit_s, 2),
        "artifact_mb": round(sum(f.stat().st_size for f in path.iterdir()) / 1e6, 1),
        "runtime": {"tfidf": "scikit-learn", "static": "numpy+tokenizers"}.get(kind, "onnxruntime int8"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from tutorloop.bench.datasets import load_dataset
    from tutorloop.bench.pool_methods import SELF_SHARE

    share = SELF_SHARE if args.share is None else args.share
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tutorloop-static-tier-"))
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items() if k != "workdir"} | {"share": share},
        "note": "2 shared CPU cores; other jobs ran at the same time, so texts/s and ms are noisy",
        "sets": {},
    }
    for folder in args.data:
        ds = load_dataset(str(folder))
        print(f"[{ds.name}] {len(ds)} test texts, {len(ds.labels)} labels; pseudo-labelling the pool ...")
        texts, labels, info = pseudo_labels(ds, args.pool, share, args.seed)
        row: dict[str, Any] = {"train": info, "zero_shot_teacher": zero_shot(ds), "kinds": {}}
        print(f"[{ds.name}] {info['n_train']} pseudo-labelled texts; teacher {row['zero_shot_teacher']}")
        for kind in kinds:
            r = bench_kind(kind, ds, (texts, labels), args)
            row["kinds"][kind] = r
            print(
                f"[{ds.name}] {kind:6s} macro-F1 {r['macro_f1']:.4f}  acc {r['accuracy']:.4f}  "
                f"{r['texts_per_s']:>9,.0f} texts/s  p50 {r['single_p50_ms']:.2f} ms  "
                f"fit {r['fit_s']} s  {r['artifact_mb']} MB",
                flush=True,
            )
        got = row["kinds"]
        if "static" in got and "embed" in got:
            row["static_vs_embed"] = {
                "macro_f1_points": round(100 * (got["static"]["macro_f1"] - got["embed"]["macro_f1"]), 1),
                "speedup": round(got["static"]["texts_per_s"] / got["embed"]["texts_per_s"], 1),
            }
            print(f"[{ds.name}] static vs embed: {row['static_vs_embed']}")
        results["sets"][ds.name] = row
    if "static" in kinds:
        from tutorloop.classifiers.static import distilled

        folder = distilled(None, pca_dims=256, vocab_limit=None)
        results["static_distillation"] = json.loads((folder / "distill.json").read_text(encoding="utf-8"))
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
