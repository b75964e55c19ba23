"""Batch prediction throughput: the local engine against Ray Data on this machine (``predict_dataset``).

For each classifier kind it trains on a small labelled portion of a data set, saves the artifact, writes
the texts as Parquet files (4 shards with an ``id`` column) to a temporary folder and measures, all
with ``tutorloop.scale.predict_dataset`` writing Parquet parts:

- ``per_core``: the loaded model alone, ``predict_proba`` on ``--batch-size`` batches in this process
  with one thread (no file I/O), on a quarter of the texts: rows/s per core;
- ``local``: the local engine end to end (plan, model load, read, predict, write) with one thread;
- ``ray_<k>_actors``: the Ray engine on a local cluster of this machine's CPUs (started once and warmed
  up with a tiny one-actor dataset, both timed apart), a pool of k actors with one thread each, for each
  k of ``--concurrency`` (default: 1 and all CPUs).

Each engine run is split by timestamps that the model loader writes when a model copy is ready:
``startup_s`` (call to the last model copy ready: planning, actor start, model load) and
``processing_s`` (from then to the end: read, predict, write); ``rows_per_model_copy_second`` divides
the rows by the seconds each model copy was up (ready to end), a copy's steady rate.
The JSONL planning scan (the driver reads JSONL inputs once for line boundaries) is timed on a JSONL
copy of the texts. The machine's load average is recorded with each run: other jobs on a shared
machine slow every number here.

Texts: ``test.jsonl`` and ``unlabelled.jsonl`` of ``--data`` (default ``../shared/benchmarks/ag_news``),
repeated in order up to ``--n-texts``; training: the first ``--train-per-class`` examples per label of
``test.jsonl``. Nothing is copied into the repository.

Usage::

    python benchmarks/ray_predict.py                              # tfidf, 20k texts
    python benchmarks/ray_predict.py --kinds tfidf,embed
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import machine, write_results

ROOT = Path(__file__).resolve().parents[1]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "ag_news")
    p.add_argument("--kinds", default="tfidf")
    p.add_argument("--train-per-class", type=int, default=32)
    p.add_argument("--n-texts", type=int, default=20_000, help="texts per run (tfidf)")
    p.add_argument("--n-texts-embed", type=int, default=2_000, help="texts per run (embed, setfit)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--concurrency",
        default=f"1,{os.cpu_count() or 1}",
        help="Ray actor pool sizes to run, comma-separated (1 actor against the local engine shows Ray's own "
        "per-row cost; all CPUs shows the speed-up)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ray_predict.json")
    return p.parse_args(argv)


def _texts(data: Path, n: int) -> list[str]:
    from tutorloop.data.io import iter_texts

    pool = [
        t for name in ("test.jsonl", "unlabelled.jsonl") for batch in iter_texts(data / name) for t in batch
    ]
    return [pool[i % len(pool)] for i in range(n)]


def _training(data: Path, per_class: int) -> tuple[list[str], list[str]]:
    from tutorloop.data.io import read_labelled

    texts, labels = read_labelled(data / "test.jsonl")
    seen: dict[str, int] = {}
    x, y = [], []
    for t, lab in zip(texts, labels, strict=True):
        if seen.get(lab, 0) < per_class:
            seen[lab] = seen.get(lab, 0) + 1
            x.append(t)
            y.append(lab)
    return x, y


def _write_inputs(texts: list[str], root: Path, shards: int = 4) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True)
    size = -(-len(texts) // shards)
    for s in range(shards):
        part = range(s * size, min(len(texts), (s + 1) * size))
        table = pa.table({"id": [f"t{i}" for i in part], "text": [texts[i] for i in part]})
        pq.write_table(table, root / f"shard-{s}.parquet")
    return root


def _per_core(model_path: Path, texts: list[str], batch_size: int) -> float:
    from tutorloop.classifiers import load

    model = load(model_path, threads=1)
    model.predict_proba(texts[:batch_size])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        model.predict_proba(texts[i : i + batch_size])
    return len(texts) / (time.perf_counter() - start)


def _ready_stamps(stamps: str) -> Any:
    """A model loader that appends the time each model copy is ready to the file ``stamps``.

    A closure: Ray pickles it by value, so the actors need not import this script.
    """

    def loader(path: str, *, threads: int | None = None) -> Any:
        from tutorloop.classifiers import load

        model = load(path, threads=threads)
        with open(stamps, "a", encoding="utf-8") as f:
            f.write(f"{time.time()}\n")
        return model

    return loader


def _run(
    model_path: Path, inputs: Path, out: Path, engine: str, batch_size: int, actors: int = 0
) -> dict[str, Any]:
    from tutorloop.scale import predict_dataset

    stamps = out.with_name(out.name + ".ready")
    stamps.unlink(missing_ok=True)
    load_before = os.getloadavg()[0]
    extra: dict[str, Any] = {"concurrency": actors} if engine == "ray" else {}
    start = time.time()
    result = predict_dataset(
        model_path,
        inputs,
        out,
        engine=engine,
        batch_size=batch_size,
        threads=1,
        overwrite=True,
        loader=_ready_stamps(str(stamps)),
        **extra,
    )
    end = time.time()
    ready = sorted(float(line) for line in stamps.read_text().split())
    return {
        "rows": result.rows,
        "files": len(result.files),
        "seconds": round(end - start, 2),
        "rows_per_s": round(result.rows / (end - start), 1),
        "model_copies": len(ready),
        "first_model_ready_s": round(ready[0] - start, 2),
        "startup_s": round(ready[-1] - start, 2),
        "processing_s": round(end - ready[-1], 2),
        "rows_per_s_after_startup": round(result.rows / (end - ready[-1]), 1),
        # each copy works from its ready time to the end: rows per copy-second is a copy's steady rate
        "rows_per_model_copy_second": round(result.rows / sum(end - t for t in ready), 1),
        "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }


def _plan_scan(texts: list[str], workdir: Path) -> dict[str, Any]:
    from tutorloop.scale.sources import plan_inputs

    path = workdir / "scan" / "texts.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    start = time.perf_counter()
    plan = plan_inputs(path)
    seconds = time.perf_counter() - start
    mb = path.stat().st_size / 1e6
    return {
        "rows": plan.num_rows,
        "mb": round(mb, 1),
        "seconds": round(seconds, 3),
        "mb_per_s": round(mb / seconds),
    }


def _pool_sizes(args: argparse.Namespace) -> list[int]:
    return [int(a) for a in args.concurrency.split(",") if a.strip()]


class _Identity:
    def __call__(self, batch: Any) -> Any:
        return batch


def _warm_up() -> float:
    """Run a tiny dataset through a one-actor pool: Ray Data starts its helper actors on first use."""
    import ray

    start = time.perf_counter()
    ray.data.range(10).map_batches(_Identity, compute=ray.data.ActorPoolStrategy(size=1)).materialize()
    return round(time.perf_counter() - start, 2)


def bench_kind(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tutorloop.classifiers import make_classifier

    n = args.n_texts if kind == "tfidf" else args.n_texts_embed
    texts = _texts(args.data, n)
    start = time.perf_counter()
    model_path = make_classifier(kind).fit(*_training(args.data, args.train_per_class)).save(workdir / kind)
    fit_s = time.perf_counter() - start
    inputs = _write_inputs(texts, workdir / f"{kind}-in")
    r: dict[str, Any] = {"n_texts": n, "fit_and_save_s": round(fit_s, 2)}
    r["per_core_rows_per_s"] = round(_per_core(model_path, texts[: n // 4], args.batch_size), 1)
    print(f"[{kind}] model alone: {r['per_core_rows_per_s']:,.0f} rows/s on one core", flush=True)
    runs = {"local": ("local", 0)} | {f"ray_{a}_actors": ("ray", a) for a in _pool_sizes(args)}
    for name, (engine, actors) in runs.items():
        out = workdir / f"{kind}-out-{name}"
        r[name] = run = _run(model_path, inputs, out, engine, args.batch_size, actors)
        print(
            f"[{kind}] {name}: {run['rows_per_s']:,.0f} rows/s end to end on {n} rows; "
            f"{run['rows_per_model_copy_second']:,.0f} rows/s per model copy after {run['startup_s']} s "
            "of startup",
            flush=True,
        )
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import ray

    args = _args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tutorloop-ray-bench-"))
    results: dict[str, Any] = {
        "machine": machine(),
        "ray": ray.__version__,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "data": f"{args.data}: test.jsonl + unlabelled.jsonl texts in order, repeated up to n",
        "note": "one run each, on a machine shared with other jobs (see the load averages)",
    }
    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    results["ray_cluster_start_s"] = round(time.perf_counter() - start, 2)
    results["ray_data_first_use_s"] = _warm_up()
    try:
        texts = _texts(args.data, args.n_texts)
        results["jsonl_plan_scan"] = _plan_scan(texts, workdir)
        results["kinds"] = {kind: bench_kind(kind, args, workdir) for kind in args.kinds.split(",") if kind}
    finally:
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)  # inputs, models and outputs: about 50 MB a run
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
