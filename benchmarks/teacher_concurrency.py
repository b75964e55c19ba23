"""Teacher calls in flight: tutorloop's ``openai`` backend against llama.cpp's own server on loopback.

For each ``c`` in ``--slots`` (default 1,2,4) this starts llama.cpp's OpenAI-compatible HTTP server
(xllamacpp ``Server``: ``n_parallel`` = ``c`` slots, context ``--ctx-per-slot`` × ``c``, a TCP listener on
127.0.0.1 with a random free port), points ``get_llm("openai:...", base_url=..., max_concurrency=c)`` at
it, and has it label the same ``--n`` ag_news pool texts blind, ``--batch`` texts per request, with the
request the loop itself sends when its teacher labels pool texts (``LABEL.job(..., "label-pool")``: the
same prompt, reply schema and token limit). No response cache; one attempt per request (no re-asking), so
every configuration sends the same ``n / batch`` requests. One warm-up request precedes each timing.

Reported per ``c``: wall time, requests/s, generated (completion) tokens/s, the most requests the client
had in flight at once, how many replies validated, how many labels agree with the ``c`` = first run, and
the speed-up in requests/s over the first entry of ``--slots`` (1 in flight). Writes
``benchmarks/results/teacher_concurrency.json`` (``--out``).

Usage::

    # the measurement (embedded Qwen2.5-Coder-1.5B, 2 threads): ~10-20 minutes on 2 cores
    python benchmarks/teacher_concurrency.py --model local --n 32 --slots 1,2,4 --threads 2
    # a quick end-to-end check with the 135M model, results elsewhere
    python benchmarks/teacher_concurrency.py --model smollm2 --n 8 --slots 1,2 --out /tmp/tc.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

AG_NEWS = Path("/work/shared/benchmarks/ag_news")
DESCRIPTION = "Classify the topic of a news article, given its headline and opening sentence."


def model_path(spec: str) -> Path:
    """``local`` / ``local:ALIAS`` / ``ALIAS`` (a packaged model) or a path to a ``.gguf`` file."""
    from tutorloop.llm.models import DEFAULT_MODEL, PACKAGED, locate

    rest = spec.removeprefix("local").removeprefix(":") or DEFAULT_MODEL
    if rest in PACKAGED:
        return locate(rest)
    path = Path(rest).expanduser()
    if not path.is_file():
        raise SystemExit(f"--model {spec}: not a packaged model ({', '.join(PACKAGED)}) nor a .gguf file")
    return path


def start_server(path: Path, slots: int, threads: int, ctx_per_slot: int) -> tuple[Any, str]:
    """llama.cpp's HTTP server on 127.0.0.1 (random port): the object (keep it alive) and its /v1 URL."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_ctx = ctx_per_slot * slots  # llama.cpp divides the context among the slots
    params.n_parallel = slots
    params.verbosity = 0
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port
    params.ui = False
    params.n_threads_http = slots + 1
    server = xllamacpp.Server(params)
    address = server.listening_address
    if not address.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"llama.cpp server listens on {address!r}, not on 127.0.0.1")
    return server, address + "/v1"


def labelling_jobs(texts: list[str], labels: list[str], batch: int) -> list[Any]:
    """The loop's own pool-labelling requests (all labels offered, as for a task with 4 labels)."""
    from tutorloop.loop import Task
    from tutorloop.loop.llm_tasks import LABEL, chunks

    task = Task.from_labels(DESCRIPTION, labels)
    return [LABEL.job(task, list(b), "label-pool") for b in chunks(texts, batch)]


def measure(
    path: Path, c: int, args: argparse.Namespace, texts: list[str], labels: list[str]
) -> dict[str, Any]:
    from tutorloop.llm import get_llm

    server, base_url = start_server(path, c, args.threads, args.ctx_per_slot)
    llm = get_llm("openai:teacher", base_url=base_url, cache=False, max_concurrency=c, timeout=600)
    inner = llm._complete
    lock = threading.Lock()
    flight = {"now": 0, "peak": 0}

    def counted(request: Any) -> Any:  # how many requests the client has in flight
        with lock:
            flight["now"] += 1
            flight["peak"] = max(flight["peak"], flight["now"])
        try:
            return inner(request)
        finally:
            with lock:
                flight["now"] -= 1

    llm._complete = counted  # type: ignore[method-assign]
    try:
        llm.structured_many(labelling_jobs(["Warm-up: markets rallied today."], labels, 1), max_attempts=1)
        flight["peak"] = 0
        before = llm.ledger.summary()
        jobs = labelling_jobs(texts, labels, args.batch)
        start = time.perf_counter()
        replies = llm.structured_many(jobs, max_attempts=1)
        wall = time.perf_counter() - start
        after = llm.ledger.summary()
    finally:
        llm.close()
        del server
        gc.collect()
    calls = int(after["calls"]) - int(before["calls"])
    generated = int(after["completion_tokens"]) - int(before["completion_tokens"])
    prompt = int(after["prompt_tokens"]) - int(before["prompt_tokens"])
    got: list[str | None] = []
    for job, reply in zip(jobs, replies, strict=True):
        n = job.schema.model_json_schema()["properties"]["labels"]["maxItems"]
        got += list(reply.labels) if hasattr(reply, "labels") else [None] * n  # type: ignore[attr-defined]
    return {
        "in_flight": c,
        "slots": c,
        "texts": len(texts),
        "requests": calls,
        "wall_s": round(wall, 2),
        "requests_per_s": round(calls / wall, 3),
        "generated_tokens": generated,
        "generated_tokens_per_s": round(generated / wall, 2),
        "prompt_tokens": prompt,
        "max_in_flight_seen": flight["peak"],
        "valid_replies": sum(hasattr(r, "labels") for r in replies),
        "labels": got,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="local", help="local (the embedded 1.5B), smollm2, or a .gguf path")
    ap.add_argument("--n", type=int, default=32, help="pool texts to label (the first N of unlabelled.jsonl)")
    ap.add_argument("--batch", type=int, default=1, help="texts per request (the loop's verify_batch)")
    ap.add_argument(
        "--slots", default="1,2,4", help="requests in flight = server slots; the first is the base"
    )
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp CPU threads")
    ap.add_argument("--ctx-per-slot", type=int, default=2048)
    ap.add_argument("--data", type=Path, default=AG_NEWS, help="folder with unlabelled.jsonl and labels.json")
    ap.add_argument("--out", default="benchmarks/results/teacher_concurrency.json")
    args = ap.parse_args()
    path = model_path(args.model)
    labels = json.loads((args.data / "labels.json").read_text())
    with open(args.data / "unlabelled.jsonl") as f:
        texts = [json.loads(line)["text"] for _, line in zip(range(args.n), f, strict=False)]
    rows = []
    for c in [int(s) for s in args.slots.split(",")]:
        rows.append(measure(path, c, args, texts, labels))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "labels"}), flush=True)
    base = rows[0]
    for r in rows:
        r["speedup_vs_first"] = round(r["requests_per_s"] / base["requests_per_s"], 2)
        r["agree_with_first"] = sum(
            a == b and a is not None for a, b in zip(r["labels"], base["labels"], strict=True)
        )
    out = {
        "what": "openai backend -> llama.cpp server on 127.0.0.1, in flight = slots; ag_news labelling",
        "model": str(path),
        "n_texts": len(texts),
        "batch": args.batch,
        "threads": args.threads,
        "ctx_per_slot": args.ctx_per_slot,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(
            f"in flight {r['in_flight']}: {r['wall_s']} s, {r['requests_per_s']} req/s, "
            f"{r['generated_tokens_per_s']} gen tok/s, speed-up x{r['speedup_vs_first']}, "
            f"valid {r['valid_replies']}/{r['requests']}, agree {r['agree_with_first']}/{len(texts)}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
