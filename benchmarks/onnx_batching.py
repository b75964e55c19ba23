"""Where the ONNX int8 encoder's time goes, and which batching and thread settings make it fastest.

For each data set folder an embed model is trained on the first ``--train-per-class`` texts per label,
saved (ONNX int8, as ``tutorloop save`` writes it) and loaded with ``tutorloop.load``; then, on
``--n-texts`` of the remaining texts:

- **batching**: the encoder's texts/s (wall) and texts per CPU-second for several ways of forming batches,
  one onnxruntime thread (so CPU time is the work done, whatever else runs on the machine):
  ``before`` sorts by characters and runs 64 texts a call (the predictor up to this change), ``rows=N``
  sorts by tokens and runs N texts a call, ``tokens=N`` sorts by tokens and caps a call at N padded tokens
  (and 64 texts); each padded to its batch's longest text. ``padding`` is padded tokens / real tokens.
- **threads**: texts/s (wall) of the default batching, batched and one text per call: two onnxruntime
  intra-op threads with its spinning on (its default) and off, against one thread per call with one or
  two batches at once (what ``OnnxEncoder(threads=N)`` does).
- **split**: of one default-batched pass, one batch at a time on one thread, seconds in the
  tokenizer and padding, in ``session.run`` and in pooling + head.
- **agreement** (``--parts agreement``, not run by default): int8 quantises a batch's activations with one
  scale, so batching moves predictions a little; labels agreeing and the largest probability gap between
  the old batching, the new, one text a call, and the same classifier saved with an fp32 encoder.

Every variant runs once per round, rounds interleaved, so a change in the machine's load hits all of them;
the best and median of ``--rounds`` are kept, with the load average before and after. ``--busy N`` runs N
busy-loop processes alongside the batching, threads and split parts, as other jobs on a shared CPU would.

Usage::

    python benchmarks/onnx_batching.py          # sst2, ag_news, banking77 from ../shared
    python benchmarks/onnx_batching.py --data ../shared/benchmarks/sst2 --n-texts 500 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import machine, write_results

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", type=Path, help="data set folder (repeatable)")
    p.add_argument("--train-per-class", type=int, default=8)
    p.add_argument("--n-texts", type=int, default=1000)
    p.add_argument("--n-single", type=int, default=200, help="one-text calls per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rows", default="1,8,16,32,64", help="rows=N variants")
    p.add_argument("--tokens", default="256,512,1024,2048", help="tokens=N variants")
    p.add_argument("--parts", default="batching,threads,split")
    p.add_argument("--busy", type=int, default=0, help="busy-loop processes run alongside (a shared CPU)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "onnx_batching.json")
    args = p.parse_args(argv)
    args.data = args.data or [SHARED / name for name in ("sst2", "ag_news", "banking77")]
    return args


def _spin() -> None:
    while True:
        pass


def _busy(n: int) -> list[Any]:
    """``n`` processes that keep a core busy each, as other jobs on a shared machine do."""
    import multiprocessing

    procs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    return procs


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _model(data: Path, per_class: int, workdir: Path, threads: int) -> tuple[Any, Any, list[str], list[str]]:
    """(fitted classifier, its saved int8 artifact loaded, texts not trained on, their gold labels)."""
    from tutorloop.classifiers import load, make_classifier
    from tutorloop.data.io import read_labelled

    texts, gold = read_labelled(data / "test.jsonl")
    seen: dict[str, int] = {}
    train, rest, rest_gold = [], [], []
    for t, y in zip(texts, gold, strict=True):
        if seen.get(y, 0) < per_class:
            seen[y] = seen.get(y, 0) + 1
            train.append((t, y))
        else:
            rest.append(t)
            rest_gold.append(y)
    clf = make_classifier("embed").fit([t for t, _ in train], [y for _, y in train])
    return clf, load(clf.save(workdir / data.name), threads=threads), rest, rest_gold


def _session(model_path: Path, threads: int, spin: bool) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])


def _grouped(
    enc: Any, texts: list[str], groups: Callable[[list[int], list[str]], list[np.ndarray]]
) -> np.ndarray:
    """Embed ``texts`` in the batches ``groups(token_counts, texts)`` picks, each padded to its longest."""
    encs = enc.tokenizer.encode_batch([t[: enc.max_chars] for t in texts])
    ids = [e.ids for e in encs]
    out = np.zeros((len(texts), 0), dtype=np.float32)
    for idx in groups([len(x) for x in ids], texts):
        vecs = enc._run([ids[i] for i in idx], [encs[i].type_ids for i in idx])
        out = out if out.shape[1] else np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
    return out


def _batching_variants(
    args: argparse.Namespace,
) -> dict[str, Callable[[list[int], list[str]], list[np.ndarray]]]:
    from tutorloop.classifiers.onnx_runtime import length_batches

    def before(lengths: list[int], texts: list[str]) -> list[np.ndarray]:
        order = np.argsort([len(t) for t in texts], kind="stable")
        return [order[i : i + 64] for i in range(0, len(order), 64)]

    out: dict[str, Callable[[list[int], list[str]], list[np.ndarray]]] = {"before": before}
    for n in [int(x) for x in args.rows.split(",") if x]:
        out[f"rows={n}"] = lambda lengths, texts, n=n: length_batches(lengths, n, 10**9)
    for n in [int(x) for x in args.tokens.split(",") if x]:
        out[f"tokens={n}"] = lambda lengths, texts, n=n: length_batches(lengths, 64, n)
    return out


def _padding(
    groups: Callable[[list[int], list[str]], list[np.ndarray]], lengths: list[int], texts: list[str]
) -> float:
    padded = sum(len(idx) * max(lengths[i] for i in idx) for idx in groups(lengths, texts))
    return round(padded / sum(lengths), 3)


def _summary(rates: list[float]) -> dict[str, float]:
    return {"best": round(max(rates), 1), "median": round(statistics.median(rates), 1)}


def bench_batching(model: Any, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    enc = model.encoder
    enc.session, enc.threads = _session(Path(model.path) / "encoder.onnx", 1, True), 1
    variants = _batching_variants(args)
    lengths = [len(e.ids) for e in enc.tokenizer.encode_batch([t[: enc.max_chars] for t in texts])]
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    load_before = _load()
    _grouped(enc, texts[:64], variants["before"])  # warm-up
    for _ in range(args.rounds):
        for name, groups in variants.items():
            c, w = time.process_time(), time.perf_counter()
            _grouped(enc, texts, groups)
            wall[name].append(len(texts) / (time.perf_counter() - w))
            cpu[name].append(len(texts) / (time.process_time() - c))
    return {
        "threads": 1,
        "load_before_after": [load_before, _load()],
        "variants": {
            k: {
                "texts_per_s": _summary(wall[k]),
                "texts_per_cpu_s": _summary(cpu[k]),
                "padding": _padding(variants[k], lengths, texts),
            }
            for k in variants
        },
    }


def bench_threads(model: Any, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """onnxruntime's own intra-op threads (spinning on, its default, or off) against one thread per call
    with up to N calls at once on different batches (``OnnxEncoder(threads=N)``)."""
    enc = model.encoder
    path = Path(model.path) / "encoder.onnx"
    one = _session(path, 1, True)
    variants: dict[str, tuple[Any, int]] = {
        "intra-op threads=2 spin=on": (_session(path, 2, True), 1),
        "intra-op threads=2 spin=off": (_session(path, 2, False), 1),
        "1 thread, 1 batch at a time": (one, 1),
        "1 thread, 2 batches at once": (one, 2),
    }
    batched: dict[str, list[float]] = {k: [] for k in variants}
    single: dict[str, list[float]] = {k: [] for k in variants}
    load_before = _load()
    for _ in range(args.rounds):
        for name, (session, at_once) in variants.items():
            enc.session, enc.threads = session, at_once
            w = time.perf_counter()
            enc.encode(texts)
            batched[name].append(len(texts) / (time.perf_counter() - w))
            w = time.perf_counter()
            for t in texts[: args.n_single]:
                enc.encode([t])
            single[name].append(min(len(texts), args.n_single) / (time.perf_counter() - w))
    return {
        "batching": f"rows<={enc.batch_size}, tokens<={enc.batch_tokens}",
        "load_before_after": [load_before, _load()],
        "batched_texts_per_s": {k: _summary(v) for k, v in batched.items()},
        "one_text_per_call_texts_per_s": {k: _summary(v) for k, v in single.items()},
    }


def bench_split(model: Any, texts: list[str]) -> dict[str, Any]:
    from tutorloop.classifiers.head import head_proba
    from tutorloop.classifiers.onnx_runtime import length_batches, pool

    enc = model.encoder
    tok = run = rest = 0.0
    t0 = time.perf_counter()
    encs = enc.tokenizer.encode_batch([t[: enc.max_chars] for t in texts])
    ids = [e.ids for e in encs]
    tok += time.perf_counter() - t0
    for idx in length_batches([len(x) for x in ids], enc.batch_size, enc.batch_tokens):
        t0 = time.perf_counter()
        rows = [ids[i] for i in idx]
        width = max(len(x) for x in rows)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        feeds = {
            "input_ids": np.zeros_like(mask),
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(mask),
        }
        for r, x in enumerate(rows):
            feeds["input_ids"][r, : len(x)] = x
            mask[r, : len(x)] = 1
        t1 = time.perf_counter()
        hidden = enc.session.run(None, {k: feeds[k] for k in enc.inputs})[0]
        t2 = time.perf_counter()
        head_proba(pool(hidden, mask, enc.pooling), model.coef, model.intercept)
        t3 = time.perf_counter()
        tok += t1 - t0
        run += t2 - t1
        rest += t3 - t2
    return {
        "threads": "1, one batch at a time",
        "texts": len(texts),
        "tokenize_and_pad_s": round(tok, 3),
        "session_run_s": round(run, 3),
        "pool_and_head_s": round(rest, 3),
        "load_after": _load(),
    }


def bench_agreement(
    clf: Any, model: Any, texts: list[str], gold: list[str], fp32_dir: Path
) -> dict[str, Any]:
    """How far batching moves int8 predictions: the old and new batching, one text a call, and the same
    classifier saved with an fp32 encoder, on the same texts."""
    from tutorloop.classifiers import load
    from tutorloop.classifiers.head import head_proba

    before = _batching_variants(argparse.Namespace(rows="", tokens=""))["before"]
    clf.quantize = False
    fp32 = load(clf.save(fp32_dir), threads=model.encoder.threads)
    clf.quantize = True
    proba = {
        "int8, before (char-sorted, 64 a call)": head_proba(
            _grouped(model.encoder, texts, before), model.coef, model.intercept
        ),
        "int8, now": model.predict_proba(texts),
        "int8, one text a call": np.stack([model.predict_proba([t])[0] for t in texts]),
        "fp32 encoder, now": fp32.predict_proba(texts),
    }
    truth = np.array(gold, dtype=object)
    names = list(proba)
    return {
        "texts": len(texts),
        "accuracy": {
            k: round(float(np.mean(model.classes_[p.argmax(1)] == truth)), 4) for k, p in proba.items()
        },
        "pairs": {
            f"{a} | {b}": {
                "labels_agree": round(float(np.mean(proba[a].argmax(1) == proba[b].argmax(1))), 4),
                "max_abs_proba_diff": round(float(np.abs(proba[a] - proba[b]).max()), 4),
            }
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _args(argv)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "data": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="tutorloop-onnx-batching-"))
    for data in args.data:
        clf, model, rest, rest_gold = _model(data, args.train_per_class, workdir, threads=2)
        texts = rest[: args.n_texts]
        lengths = [len(e.ids) for e in model.encoder.tokenizer.encode_batch(texts)]
        r: dict[str, Any] = {"n_texts": len(texts), "mean_tokens": round(float(np.mean(lengths)), 1)}
        loaded = model.encoder.session, model.encoder.threads
        busy = _busy(args.busy)
        if "batching" in parts:
            model.encoder.session, model.encoder.threads = loaded
            r["batching"] = bench_batching(model, texts, args)
            print(data.name, "batching", json.dumps(r["batching"]), flush=True)
        if "threads" in parts:
            model.encoder.session, model.encoder.threads = loaded
            r["threads"] = bench_threads(model, texts, args)
            print(data.name, "threads", json.dumps(r["threads"]), flush=True)
        if "split" in parts:
            model.encoder.session, model.encoder.threads = loaded
            r["split"] = bench_split(model, texts)
            print(data.name, "split", json.dumps(r["split"]), flush=True)
        for proc in busy:
            proc.terminate()
            proc.join()
        if "agreement" in parts:
            model.encoder.session, model.encoder.threads = loaded
            r["agreement"] = bench_agreement(
                clf, model, texts, rest_gold[: len(texts)], workdir / f"{data.name}-fp32"
            )
            print(data.name, "agreement", json.dumps(r["agreement"]), flush=True)
        results["data"][data.name] = r
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
