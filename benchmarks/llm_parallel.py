"""Does llama.cpp's batched decoding (parallel slots) raise the embedded LLM's aggregate throughput here?

Loads the default GGUF with ``n_parallel`` = 1, 2, 4 (and the context scaled with it), sends the same
``--n`` independent "write three headlines" requests from as many client threads as there are slots, over
llama.cpp's HTTP listener on a private unix socket (the in-process call serialises requests), and
reports aggregate generated tokens/s and the wall time. Writes ``benchmarks/results/llm_parallel.json``.

Usage::

    python benchmarks/llm_parallel.py --slots 1,2,4 --n 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

LABELS = ["sports", "politics", "science", "business"]


def measure(path: str, slots: int, n: int, threads: int) -> dict[str, Any]:
    import httpx
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = path
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_ctx = 2048 * slots
    params.n_parallel = slots
    params.verbosity = 0
    sock = Path(tempfile.mkdtemp(prefix="tl-par-")) / "llama.sock"
    params.hostnames = [str(sock)]
    params.ui = False
    params.n_threads_http = slots + 1
    server = xllamacpp.Server(params)  # noqa: F841 - kept alive while the client runs
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=600)

    def request(i: int) -> dict[str, Any]:
        body = {
            "messages": [
                {"role": "system", "content": f"You write news headlines. Topics: {', '.join(LABELS)}."},
                {"role": "user", "content": f"Write 3 realistic headlines about {LABELS[i % 4]}, item {i}."},
            ],
            "max_tokens": 96,
            "temperature": 0.7,
            "seed": i,
        }
        return client.post("http://localhost/v1/chat/completions", json=body).json()["usage"]

    request(10_000)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        usage = list(pool.map(request, range(n)))
    wall = time.perf_counter() - start
    generated = sum(u["completion_tokens"] for u in usage)
    return {
        "slots": slots,
        "requests": n,
        "wall_s": round(wall, 2),
        "generated_tokens": generated,
        "generated_tokens_per_s": round(generated / wall, 1),
    }


def main() -> None:
    from tutorloop.llm.models import locate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slots", default="1,2,4")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/llm_parallel.json")
    args = ap.parse_args()
    path = str(locate())
    rows = []
    for slots in [int(s) for s in args.slots.split(",")]:
        rows.append(measure(path, slots, args.n, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["generated_tokens_per_s"]
    for r in rows:
        r["speedup_vs_first"] = round(r["generated_tokens_per_s"] / base, 2)
    out = {"rows": rows, "cpus": os.cpu_count(), "machine": platform.platform(), "model": path}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
