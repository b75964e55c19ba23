"""``tutorloop serve`` under load: real HTTP on loopback, a bounded async client, bad bodies mixed in.

Trains a tfidf model on ``--train-per-class`` examples per label of ``--data``'s ``test.jsonl`` (or
serves ``--model``), starts ``python -m tutorloop serve`` in a subprocess on 127.0.0.1 and a free port,
then sends ``--requests`` POST /predict requests with ``--concurrency`` in flight (that many workers,
each an ``httpx.AsyncClient`` with its own connection). Most requests are one text or a small batch; every
``--bad-every``-th is a bad one, in turn: a body over ``--max-body-bytes`` (413), a text over
``--max-text-chars`` (413), malformed JSON (422), non-UTF-8 bytes (400), a wrong field (422), an empty
text (422). It reports requests/s (all requests over the wall time of the burst), p50/p90/p99 latency
(each request from send to full response, not counting the wait for a free slot), counts by status,
requests that got a status other than the one their kind should get, and dropped requests (any client
exception: connection reset, timeout). Then it checks the server still answers /health and /predict.
For reading the numbers on a shared machine it also records the CPU milliseconds the server and the
client spent per request, the kernel's TCP reset counters over the burst (Linux) and the server log's
warnings and errors.

It fails (exit 1) when a request was dropped, got a 5xx or an unexpected status, or the server stopped
answering. The machine's load average is recorded: on a shared machine the client, the server and other
jobs share the cores, so the numbers are a floor, not the server's capacity.

Usage::

    python benchmarks/serve_load.py                        # 2,000 requests, 64 in flight
    python benchmarks/serve_load.py --requests 5000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BAD_KINDS = ("oversized_body", "text_too_long", "malformed_json", "not_utf8", "wrong_field", "empty_text")
EXPECTED = {
    "text": 200,
    "batch": 200,
    "oversized_body": 413,
    "text_too_long": 413,
    "malformed_json": 422,
    "not_utf8": 400,
    "wrong_field": 422,
    "empty_text": 422,
}


@dataclass(frozen=True)
class Outcome:
    """One request: its kind, the status it got (None when dropped), seconds taken, the error if any."""

    kind: str
    status: int | None
    latency_s: float
    error: str | None = None
    body: Any = None
    started_s: float = 0.0  # from the start of the burst


def _bad_body(kind: str, text: str, max_body_bytes: int, max_text_chars: int) -> bytes:
    if kind == "oversized_body":
        return json.dumps({"text": "x " * (max_body_bytes // 2 + 1000)}).encode()
    if kind == "text_too_long":
        return json.dumps({"text": "y" * (max_text_chars + 1)}).encode()
    if kind == "malformed_json":
        return b'{"text": "unclosed'
    if kind == "not_utf8":
        return b'{"text": "caf\xe9 \xff"}'
    if kind == "wrong_field":
        return json.dumps({"txt": text}).encode()
    assert kind == "empty_text", kind
    return b'{"text": "   "}'


def payloads(
    texts: Sequence[str], n: int, *, bad_every: int, max_body_bytes: int, max_text_chars: int
) -> list[tuple[str, bytes]]:
    """``n`` request bodies: (kind, bytes); every ``bad_every``-th one bad, the kinds in turn."""
    out: list[tuple[str, bytes]] = []
    bad = 0
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            kind = BAD_KINDS[bad % len(BAD_KINDS)]
            bad += 1
            body = _bad_body(kind, texts[i % len(texts)], max_body_bytes, max_text_chars)
        elif i % 7 == 3:
            kind = "batch"
            body = json.dumps({"texts": [texts[(i + k) % len(texts)] for k in range(8)]}).encode()
        else:
            kind = "text"
            body = json.dumps({"text": texts[i % len(texts)]}).encode()
        out.append((kind, body))
    return out


def _describe(exc: BaseException) -> str:
    chain = [exc]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    return " <- ".join(f"{type(e).__name__}: {e}" for e in chain)


LAG: list[float] = []  # the client's event-loop stalls in the last burst (seconds), see _drive


async def _drive(
    url: str,
    bodies: list[tuple[str, bytes]],
    concurrency: int,
    timeout: float,
    headers: dict[str, str],
    keepalive_expiry: float,
) -> tuple[list[Outcome], float]:
    """``concurrency`` workers, each with its own client and so its own connection, take the bodies in
    turn. (One shared ``httpx.AsyncClient`` pool was the first driver: httpcore hands every queued request
    the same idle connection and lets them race for it, encode/httpcore#822 and #1035, so of 64 requests
    in the pool only 5 to 10 were on the wire at a time and the rest of its connections sat idle.)"""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=keepalive_expiry)
    hdrs = {"content-type": "application/json", **headers}
    outcomes: list[Outcome | None] = [None] * len(bodies)
    turns = iter(range(len(bodies)))
    burst = time.perf_counter()

    async def watch_loop() -> None:  # how late a 50 ms sleep wakes up: the client's own stalls
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            LAG.append(time.perf_counter() - t - 0.05)

    async def one(client: httpx.AsyncClient, kind: str, body: bytes) -> Outcome:
        start = time.perf_counter()
        try:
            r = await client.post(f"{url}/predict", content=body, headers=hdrs)
        except Exception as exc:  # every client-side failure counts as dropped
            took = time.perf_counter() - start
            return Outcome(kind, None, took, _describe(exc), started_s=start - burst)
        latency = time.perf_counter() - start
        try:
            parsed = r.json()
        except ValueError:
            parsed = None
        return Outcome(kind, r.status_code, latency, body=parsed, started_s=start - burst)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in turns:  # a shared iterator: each body is sent once, by whichever worker is free
            outcomes[i] = await one(client, *bodies[i])

    # made before the burst: building a client (its TLS context) takes milliseconds of CPU, which the
    # first requests' latency would otherwise count; the connections open in the burst
    clients = [
        httpx.AsyncClient(timeout=timeout, limits=limits) for _ in range(min(concurrency, len(bodies)))
    ]
    try:
        LAG.clear()
        watcher = asyncio.create_task(watch_loop())
        burst = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        wall = time.perf_counter() - burst
        watcher.cancel()
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None], wall


def run_load(
    url: str,
    bodies: list[tuple[str, bytes]],
    *,
    concurrency: int = 64,
    timeout: float = 60.0,
    headers: dict[str, str] | None = None,
    keepalive_expiry: float = 5.0,
) -> tuple[list[Outcome], float]:
    """Send every body to ``url/predict``, ``concurrency`` at once (one connection each); (outcomes in
    order, wall s).

    ``keepalive_expiry``: the client drops connections idle this long (httpx's default, 5 s; the server
    keeps them 75 s, so the client always closes first).
    """
    return asyncio.run(_drive(url, bodies, concurrency, timeout, headers or {}, keepalive_expiry))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default does."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), counts by status and kind, drops and unexpected statuses."""
    lat = [o.latency_s * 1000 for o in outcomes if o.status is not None]
    ok = [o.latency_s * 1000 for o in outcomes if o.status == 200]
    by_status = Counter(str(o.status) if o.status is not None else "dropped" for o in outcomes)
    unexpected = [o for o in outcomes if o.status is not None and o.status != EXPECTED[o.kind]]
    dropped = [o for o in outcomes if o.status is None]

    def pct(v: list[float]) -> dict[str, float]:
        return {f"p{q}": round(percentile(v, q), 2) for q in (50, 90, 99)} | {
            "max": round(max(v), 2) if v else float("nan")
        }

    return {
        "requests": len(outcomes),
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(len(outcomes) / wall_s, 1) if wall_s else None,
        "texts_per_s": round(
            sum(1 if o.kind != "batch" else 8 for o in outcomes if o.status == 200) / wall_s, 1
        )
        if wall_s
        else None,
        "latency_ms_all": pct(lat),
        "latency_ms_200": pct(ok),
        "by_status": dict(sorted(by_status.items())),
        "by_kind": dict(sorted(Counter(o.kind for o in outcomes).items())),
        "server_errors_5xx": sum(1 for o in outcomes if o.status is not None and o.status >= 500),
        "unexpected": len(unexpected),
        "unexpected_examples": [f"{o.kind}: {o.status} {o.body}"[:300] for o in unexpected[:5]],
        "dropped": len(dropped),
        "dropped_examples": [f"{o.kind} at {o.started_s:.2f} s: {o.error}"[:400] for o in dropped[:5]],
        "client_loop_lag_s": {
            "max": round(max(LAG), 3) if LAG else None,
            "p99": round(percentile(LAG, 99), 3) if LAG else None,
            "over_1s": sum(1 for v in LAG if v > 1),
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    model: Path, *, extra: Sequence[str] = (), env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[tuple[str, int]]:
    """``python -m tutorloop serve MODEL`` on 127.0.0.1 and a free port; yields its URL and process id,
    stops it after."""
    port = free_port()
    src = str(ROOT / "src")
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, environ.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "tutorloop", "serve", str(model), "--port", str(port), *extra]
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=environ, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 120 s")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used so far; None where ``/proc`` is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcp_counters() -> dict[str, int]:
    """Linux's TCP reset counters (the whole network namespace: other programs' connections count too);
    empty elsewhere. ``TCPAbortOnClose``: a socket closed with data unread, so the kernel sent a reset."""
    try:
        ext = [
            line.split()
            for line in Path("/proc/net/netstat").read_text().splitlines()
            if line.startswith("TcpExt")
        ]
        tcp = [
            line.split()
            for line in Path("/proc/net/snmp").read_text().splitlines()
            if line.startswith("Tcp:")
        ]
    except OSError:
        return {}
    counters = dict(zip(ext[0][1:], map(int, ext[1][1:]), strict=True))
    counters |= dict(zip(tcp[0][1:], map(int, tcp[1][1:]), strict=True))
    names = ("TCPAbortOnClose", "TCPAbortOnData", "ListenOverflows", "EstabResets", "OutRsts")
    return {k: counters[k] for k in names if k in counters}


def log_problems(log: Path) -> list[str]:
    """The server log's WARNING and ERROR lines (the access log is INFO)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line]


def still_serving(url: str, headers: dict[str, str] | None = None) -> bool:
    """The server answers /health and a real /predict after the burst."""
    health = httpx.get(f"{url}/health", timeout=10)
    pred = httpx.post(f"{url}/predict", json={"text": "a final check"}, headers=headers or {}, timeout=10)
    return health.status_code == 200 and pred.status_code == 200 and "label" in pred.json()


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "ag_news")
    p.add_argument("--model", type=Path, default=None, help="serve this saved model instead of training one")
    p.add_argument("--train-per-class", type=int, default=32)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--bad-every", type=int, default=10, help="every k-th request is a bad one (0: none)")
    p.add_argument("--warmup", type=int, default=64, help="good requests sent first, not counted")
    p.add_argument(
        "--keepalive-expiry",
        type=float,
        default=5.0,
        help="client: close connections idle this long (s); httpx's default, 5, is below the server's 75",
    )
    p.add_argument("--max-body-bytes", type=int, default=200_000)
    p.add_argument("--max-text-chars", type=int, default=20_000)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_load.json")
    return p.parse_args(argv)


def _train(data: Path, per_class: int, out: Path) -> Path:
    from tutorloop.classifiers import make_classifier
    from tutorloop.data.io import read_labelled

    texts, labels = read_labelled(data / "test.jsonl")
    seen: Counter[str] = Counter()
    x, y = [], []
    for t, lab in zip(texts, labels, strict=True):
        if seen[lab] < per_class:
            seen[lab] += 1
            x.append(t)
            y.append(lab)
    return make_classifier("tfidf").fit(x, y).save(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tutorloop-serve-load-"))
    try:
        return _bench(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from _results import machine  # run as a script: benchmarks/ is on sys.path (tests import only the client)

    from tutorloop.data.io import iter_texts

    t0 = time.perf_counter()
    model = args.model or _train(args.data, args.train_per_class, workdir / "model")
    phases = {"train_s": round(time.perf_counter() - t0, 2)}
    print(f"model ready in {phases['train_s']} s", flush=True)
    texts = [t for batch in iter_texts(args.data / "test.jsonl") for t in batch]
    bodies = payloads(
        texts,
        args.requests,
        bad_every=args.bad_every,
        max_body_bytes=args.max_body_bytes,
        max_text_chars=args.max_text_chars,
    )
    limits = ["--max-body-bytes", str(args.max_body_bytes), "--max-text-chars", str(args.max_text_chars)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with serving(model, extra=limits, log=workdir / "server.log") as (url, pid):
        phases["server_start_s"] = round(time.perf_counter() - t0, 2)
        print(f"server up in {phases['server_start_s']} s", flush=True)
        _, phases["warmup_s"] = run_load(
            url, payloads(texts, args.warmup, bad_every=0, max_body_bytes=0, max_text_chars=0)
        )
        tcp_before, server_cpu, client_cpu = tcp_counters(), cpu_seconds(pid), time.process_time()
        outcomes, wall = run_load(
            url, bodies, concurrency=args.concurrency, keepalive_expiry=args.keepalive_expiry
        )
        client_cpu = time.process_time() - client_cpu
        server_after = cpu_seconds(pid)
        server_cpu = (
            server_after - server_cpu if server_after is not None and server_cpu is not None else None
        )
        tcp_after = tcp_counters()
        alive = still_serving(url)
        t0 = time.perf_counter()
    phases["server_stop_s"] = round(time.perf_counter() - t0, 2)
    load_after = os.getloadavg()
    problems = log_problems(workdir / "server.log")
    summary = summarize(outcomes, wall)
    n = max(1, len(outcomes))
    summary["cpu_ms_per_request"] = {  # CPU time, not wall: what a request costs whatever the machine's load
        "server": round(server_cpu * 1000 / n, 2) if server_cpu is not None else None,
        "client": round(client_cpu * 1000 / n, 2),
    }
    summary["tcp_counters_during_burst"] = {k: tcp_after[k] - tcp_before[k] for k in tcp_after}
    summary["server_log_problems"] = {"count": len(problems), "first": problems[:5]}
    results: dict[str, Any] = {
        "machine": machine(
            load_average_before=[round(v, 2) for v in load_before],
            load_average_after=[round(v, 2) for v in load_after],
        ),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "server": "python -m tutorloop serve (uvicorn, one worker) on 127.0.0.1 in a subprocess, tfidf model",
        "client": "`concurrency` workers in this process, each an httpx.AsyncClient with its own connection",
        "note": "one run; client and server share this machine's cores with other jobs (see load average)",
        "phases": phases,
        **summary,
        "server_alive_after": alive,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    lat = summary["latency_ms_all"]
    print(
        f"{summary['requests']} requests, {args.concurrency} in flight: {summary['requests_per_s']} req/s, "
        f"p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms; statuses {summary['by_status']}; "
        f"dropped {summary['dropped']}, 5xx {summary['server_errors_5xx']}, unexpected "
        f"{summary['unexpected']}; alive after: {alive}; load average {load_before[0]:.2f} -> "
        f"{load_after[0]:.2f}; CPU ms per request: server {summary['cpu_ms_per_request']['server']}, "
        f"client {summary['cpu_ms_per_request']['client']}; TCP resets during the burst "
        f"{summary['tcp_counters_during_burst']}; server log warnings/errors {len(problems)}"
    )
    print(f"Wrote {args.out}")
    failed = summary["dropped"] or summary["server_errors_5xx"] or summary["unexpected"] or not alive
    if failed:
        print("FAILED: dropped requests, 5xx, unexpected statuses or a dead server (see the JSON)")
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
