"""Inference speed of tutorloop's classifiers against the embedded LLM classifying zero-shot, in one run.

For each classifier kind (tfidf, embed = ONNX int8, setfit = ONNX int8) it trains on a small labelled
portion of a data set, saves the artifact, loads it with ``tutorloop.load`` (as a user would: no torch on
the predict path) and measures:

- batched throughput (texts/s) over ``--n-texts`` texts,
- single-text latency p50/p99 (ms) over ``--n-single`` one-text calls,
- accuracy on the measured texts (a by-product; the training set is tiny),

then asks the local LLM (``tutorloop.llm.get_llm(--llm)``, no cache) to classify ``--llm-n`` of the same
texts zero-shot with the schema ``{"label": Literal[labels]}`` and reports every kind's throughput and
latency as a ratio to the LLM's.

Text source: ``--data DIR`` with ``test.jsonl`` + ``labels.json`` (default ``../shared/benchmarks/ag_news``).
Training data: the first ``--train-per-class`` examples of each label from that file (a held-out
portion: they are excluded from the measured texts).

Usage::

    python benchmarks/inference.py                                  # all kinds + local LLM
    python benchmarks/inference.py --kinds tfidf,embed --no-llm --n-texts 500
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from _results import machine, write_results

ROOT = Path(__file__).resolve().parents[1]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "ag_news")
    p.add_argument("--kinds", default="tfidf,embed,setfit")
    p.add_argument("--train-per-class", type=int, default=32)
    p.add_argument("--n-texts", type=int, default=2000, help="texts for the batched throughput")
    p.add_argument("--n-single", type=int, default=200, help="one-text calls for latency")
    p.add_argument("--threads", type=int, default=2, help="torch / onnxruntime / llama.cpp threads")
    p.add_argument("--llm", default="local", help="LLM spec for the zero-shot comparison")
    p.add_argument("--llm-n", type=int, default=5, help="texts the LLM classifies")
    p.add_argument("--no-llm", action="store_true", help="skip the LLM comparison")
    p.add_argument("--setfit-steps", type=int, default=60, help="SetFit max_steps (CPU-sized)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inference.json")
    p.add_argument("--workdir", type=Path, default=None, help="where models are saved (default: temp dir)")
    return p.parse_args(argv)


def _load_data(data: Path, per_class: int) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    from tutorloop.data.io import read_labelled

    labels = json.loads((data / "labels.json").read_text(encoding="utf-8"))
    texts, gold = read_labelled(data / "test.jsonl")
    seen: dict[str, int] = {}
    tr_x, tr_y, te_x, te_y = [], [], [], []
    for t, y in zip(texts, gold, strict=True):
        if seen.get(y, 0) < per_class:
            seen[y] = seen.get(y, 0) + 1
            tr_x.append(t)
            tr_y.append(y)
        else:
            te_x.append(t)
            te_y.append(y)
    return labels, tr_x, tr_y, te_x, te_y


def _latency(fn: Any, texts: list[str]) -> dict[str, float]:
    times = []
    for t in texts:
        start = time.perf_counter()
        fn([t])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))],
        "mean_ms": statistics.fmean(times),
    }


def bench_kind(kind: str, args: argparse.Namespace, data: tuple, workdir: Path) -> dict[str, Any]:
    import tutorloop
    from tutorloop.classifiers import make_classifier

    _, tr_x, tr_y, te_x, te_y = data
    params = {"max_steps": args.setfit_steps} if kind == "setfit" else {}
    start = time.perf_counter()
    clf = make_classifier(kind, **params).fit(tr_x, tr_y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    path = clf.save(workdir / kind)
    save_s = time.perf_counter() - start
    model = tutorloop.load(path, threads=args.threads)
    texts = te_x[: args.n_texts]
    model.predict_proba(texts[:64])  # warm-up
    load_before = os.getloadavg()[0]  # two shared cores: the load says how much of them the run had
    start = time.perf_counter()
    pred = model.predict(texts)
    batch_s = time.perf_counter() - start
    lat = _latency(model.predict_proba, te_x[: args.n_single])
    acc = float(np.mean(pred == np.array(te_y[: len(texts)], dtype=object)))
    size_mb = sum(f.stat().st_size for f in path.iterdir()) / 1e6
    encoder = getattr(model, "encoder", None)  # ONNX kinds: how long the texts are in tokens matters most
    tokens = [sum(e.attention_mask) for e in encoder.tokenizer.encode_batch(texts)] if encoder else []
    return {
        "kind": kind,
        "runtime": "scikit-learn" if kind == "tfidf" else model.manifest["model"].get("quantized") or "fp32",
        "fit_s": round(fit_s, 2),
        "save_s": round(save_s, 2),
        "artifact_mb": round(size_mb, 1),
        "n_texts": len(texts),
        "texts_per_s": len(texts) / batch_s,
        **lat,
        "accuracy": acc,
        "mean_tokens": round(float(np.mean(tokens)), 1) if tokens else None,
        "loadavg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def bench_llm(args: argparse.Namespace, data: tuple) -> dict[str, Any]:
    from pydantic import create_model

    from tutorloop.llm import get_llm

    labels, _, _, te_x, te_y = data
    schema = create_model("Label", label=(Literal[tuple(labels)], ...))  # type: ignore[valid-type]
    start = time.perf_counter()
    llm = get_llm(args.llm, cache=False, threads=args.threads)
    times, correct = [], 0
    for text, gold in zip(te_x[: args.llm_n], te_y[: args.llm_n], strict=True):
        prompt = (
            f"Classify the text into exactly one of these labels: {', '.join(labels)}.\n\n"
            f'Text: """{text}"""\n\nReply with JSON: {{"label": "<one of the labels>"}}'
        )
        t0 = time.perf_counter()
        try:
            reply = llm.structured(prompt, schema, max_tokens=32, max_attempts=2, purpose="bench-zero-shot")
            correct += reply.label == gold
        except Exception as exc:  # a failed reply still took the time; count it as wrong
            print(f"  LLM reply failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        times.append(time.perf_counter() - t0)
    if not times:
        raise SystemExit("--llm-n must be at least 1 (or pass --no-llm)")
    first_call_s = times[0]
    return {
        "spec": args.llm,
        "model": getattr(llm, "model", "?"),
        "n_texts": len(times),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "load_plus_first_call_s": round(time.perf_counter() - start - sum(times[1:]), 2),
        "texts_per_s": len(times) / sum(times),
        "p50_ms": statistics.median(times) * 1000,
        "first_call_ms": first_call_s * 1000,
        "accuracy": correct / len(times),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    import tempfile

    data = _load_data(args.data, args.train_per_class)
    labels, tr_x, _, te_x, _ = data
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tutorloop-bench-"))
    train_note = (
        f"first {args.train_per_class} examples per label of {args.data / 'test.jsonl'} "
        f"({len(tr_x)} texts); measured on the remaining texts"
    )
    print(f"Data: {args.data} ({len(labels)} labels); training set: {train_note}")
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "training_data": train_note,
        "kinds": {},
    }
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        print(f"[{kind}] training + saving + measuring ...", flush=True)
        r = bench_kind(kind, args, data, workdir)
        results["kinds"][kind] = r
        print(
            f"[{kind}] {r['texts_per_s']:,.0f} texts/s batched | single p50 {r['p50_ms']:.2f} ms "
            f"p99 {r['p99_ms']:.2f} ms | acc {r['accuracy']:.3f} | fit {r['fit_s']} s | {r['artifact_mb']} MB"
        )
    if not args.no_llm:
        print(f"[llm] {args.llm}: classifying {args.llm_n} texts zero-shot (no cache) ...", flush=True)
        llm = bench_llm(args, data)
        results["llm"] = llm
        print(
            f"[llm] {llm['texts_per_s']:.3f} texts/s | p50 {llm['p50_ms']:.0f} ms | "
            f"acc {llm['accuracy']:.2f} on {llm['n_texts']} texts"
        )
        for kind, r in results["kinds"].items():
            r["throughput_x_llm"] = r["texts_per_s"] / llm["texts_per_s"]
            r["latency_x_llm"] = llm["p50_ms"] / r["p50_ms"]
            print(
                f"  {kind}: {r['throughput_x_llm']:,.0f}x the LLM's throughput, "
                f"single-text {r['latency_x_llm']:,.0f}x faster (p50)"
            )
    else:
        print("[llm] skipped (--no-llm)")
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
