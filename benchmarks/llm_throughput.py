"""Throughput of the embedded LLM on this machine, on the request tutorloop makes most: "write N examples".

Each request asks for 5 labelled examples (schema: ``{"examples": [{"text", "label"}, ...]}``, exactly 5,
labels restricted to the task's label set) for one label of one of several tasks, with a varied
attribute (length, register, perspective) as the curator does. No response cache. Prints and writes:

- prompt tokens/s and generation tokens/s (llama.cpp's own timings; prompt tokens served from llama.cpp's
  prefix cache are counted separately),
- seconds per request and per example,
- structured-reply success rate (first reply validates; no re-asking) and label agreement.

Usage::

    python benchmarks/llm_throughput.py                 # default model, 20 requests
    python benchmarks/llm_throughput.py --n 3 --llm local:smollm2 --threads 2 --out /tmp/x.json
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

from pydantic import BaseModel, Field, ValidationError, create_model

from tutorloop.llm import extract_json, get_llm
from tutorloop.types import LLMRequest, Message

try:
    from _results import machine
except ImportError:  # imported by path, or run as a module from the repository root
    from benchmarks._results import machine

TASKS: list[tuple[str, list[str]]] = [
    ("Classify the sentiment of a movie review.", ["positive", "negative"]),
    ("Route a customer support message to the right team.", ["billing", "shipping", "technical", "account"]),
    ("Detect the topic of a news headline.", ["sports", "politics", "science", "business", "entertainment"]),
    ("Decide whether an email is spam.", ["spam", "not_spam"]),
    (
        "Recognise the intent of a smart-speaker command.",
        ["play_music", "set_alarm", "weather", "timer", "lights"],
    ),
]
ATTRIBUTES = [
    "short (under 12 words)",
    "long (two sentences)",
    "informal, with slang",
    "formal and polite",
    "written by a frustrated person",
    "mentioning a specific number or date",
]
N_EXAMPLES = 5


def schema_for(labels: list[str]) -> type[BaseModel]:
    """Reply schema: exactly five {text, label} items, label restricted to the task's labels."""
    item = create_model("Example", text=(str, Field(max_length=300)), label=(Literal[tuple(labels)], ...))
    exactly_n = Field(min_length=N_EXAMPLES, max_length=N_EXAMPLES)
    return create_model("Examples", examples=(list[item], exactly_n))


def build(i: int) -> tuple[str, list[str], str, str]:
    task, labels = TASKS[i % len(TASKS)]
    label = labels[(i // len(TASKS)) % len(labels)]
    attribute = ATTRIBUTES[i % len(ATTRIBUTES)]
    return task, labels, label, attribute


def messages(task: str, labels: list[str], label: str, attribute: str) -> tuple[Message, ...]:
    # Fixed part first (task, labels) so llama.cpp can reuse its cached prompt prefix.
    system = (
        f"You write training data for a text classifier.\nTask: {task}\nLabels: {', '.join(labels)}\n"
        "Reply with JSON only."
    )
    user = (
        f"Write {N_EXAMPLES} different, realistic examples whose correct label is '{label}'. "
        f"Style: {attribute}."
    )
    return (Message("system", system), Message("user", user))


def run(args: argparse.Namespace) -> dict[str, Any]:
    extra = {"compact_json": False} if args.no_compact else {}
    llm = get_llm(args.llm, cache=False, threads=args.threads, **extra)
    t0 = time.perf_counter()
    warm = llm.complete(LLMRequest((Message("user", "Say OK."),), max_tokens=2))  # loads the model
    load_s = time.perf_counter() - t0 - warm.latency_s
    rows = []
    for i in range(args.n):
        task, labels, label, attribute = build(i)
        schema = schema_for(labels)
        request = LLMRequest(
            messages(task, labels, label, attribute),
            json_schema=schema.model_json_schema(),
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
            sample_index=i,
        )
        resp = llm.complete(request, purpose="benchmark")
        timings = resp.raw.get("timings", {})
        try:
            parsed = schema.model_validate_json(extract_json(resp.text))
            ok, agree, error = True, sum(e.label == label for e in parsed.examples) / N_EXAMPLES, ""
        except ValidationError as exc:
            ok, agree, error = False, 0.0, str(exc).splitlines()[0]
        rows.append(
            {
                "i": i,
                "task": task,
                "label": label,
                "attribute": attribute,
                "ok": ok,
                "label_agreement": agree,
                "error": error,
                "latency_s": round(resp.latency_s, 3),
                "prompt_tokens": resp.prompt_tokens,
                "completion_tokens": resp.completion_tokens,
                "prompt_n": timings.get("prompt_n"),
                "prompt_ms": timings.get("prompt_ms"),
                "cache_n": timings.get("cache_n"),
                "predicted_n": timings.get("predicted_n"),
                "predicted_ms": timings.get("predicted_ms"),
                "finish_reason": resp.raw.get("finish_reason"),
                "text": resp.text,
            }
        )
        print(
            f"[{i + 1}/{args.n}] {'ok ' if ok else 'BAD'} {resp.latency_s:6.2f}s "
            f"{resp.completion_tokens:4d} tok  {label:<14} {attribute}",
            file=sys.stderr,
            flush=True,
        )
    return {
        "summary": summarise(rows, load_s),
        "llm": llm.describe(),
        "args": {**vars(args), "out": str(args.out)},
        "machine": machine(loadavg_at_end=os.getloadavg() if hasattr(os, "getloadavg") else None),
        "requests": rows,
    }


def _rate(tokens: list[int | None], ms: list[float | None]) -> float | None:
    t = sum(x or 0 for x in tokens)
    s = sum(x or 0.0 for x in ms) / 1000
    return round(t / s, 1) if s > 0 else None


def summarise(rows: list[dict[str, Any]], load_s: float) -> dict[str, Any]:
    lat = [r["latency_s"] for r in rows]
    ok = [r for r in rows if r["ok"]]
    return {
        "requests": len(rows),
        "structured_success_rate": round(len(ok) / len(rows), 3) if rows else None,
        "label_agreement": round(statistics.mean(r["label_agreement"] for r in ok), 3) if ok else None,
        "prompt_tok_per_s": _rate([r["prompt_n"] for r in rows], [r["prompt_ms"] for r in rows]),
        "gen_tok_per_s": _rate([r["predicted_n"] for r in rows], [r["predicted_ms"] for r in rows]),
        "s_per_request": round(statistics.mean(lat), 2) if lat else None,
        "s_per_request_median": round(statistics.median(lat), 2) if lat else None,
        "s_per_example": round(statistics.mean(lat) / N_EXAMPLES, 2) if lat else None,
        "prompt_tokens_total": sum(r["prompt_tokens"] for r in rows),
        "prompt_tokens_from_cache": sum(r["cache_n"] or 0 for r in rows),
        "completion_tokens_total": sum(r["completion_tokens"] for r in rows),
        "completion_tokens_per_request": round(statistics.mean(r["completion_tokens"] for r in rows), 1)
        if rows
        else None,
        "model_load_s": round(load_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20, help="number of requests (default 20)")
    p.add_argument("--llm", default="local", help="backend spec (default: the embedded default model)")
    p.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: min(2, CPUs))")
    p.add_argument("--max-tokens", type=int, default=600)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-compact",
        action="store_true",
        help="local models: let the grammar allow whitespace (llama.cpp's standard JSON grammar)",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "llm_throughput.json")
    args = p.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    s = result["summary"]
    llm = result["llm"]
    print(f"model: {llm['model']}  threads: {llm.get('threads')}  requests: {s['requests']}")
    print(f"prompt tok/s: {s['prompt_tok_per_s']}   generation tok/s: {s['gen_tok_per_s']}")
    print(
        f"s/request: {s['s_per_request']} (median {s['s_per_request_median']})   "
        f"s/example: {s['s_per_example']}"
    )
    print(
        f"structured-reply success: {s['structured_success_rate']:.0%}   "
        f"label agreement: {s['label_agreement']}"
    )
    print(
        f"prompt tokens from llama.cpp cache: {s['prompt_tokens_from_cache']}/{s['prompt_tokens_total']}   "
        f"model load: {s['model_load_s']}s"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
