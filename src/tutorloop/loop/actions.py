"""Executors of refinement actions. The policy and the LLM agent drive the same executors.

Each executor is idempotent: its job key (``act:<round>:<index>``) is recorded with its result, so a
resumed run neither repeats nor pays for finished actions.
"""

from __future__ import annotations

import math
import random
from typing import Any

from ..errors import LLMOutputError
from ..prompts import as_data, judge_reply, render
from .context import Context
from .curate import LENGTHS, STYLES, GenJob, labels_text, run_generation
from .policy import Decision


def execute(
    ctx: Context, decision: Decision, round_: int, index: int, topics: dict[str, dict[str, list[str]]]
) -> dict[str, Any]:
    """Run one accepted decision; returns (and records) what it did."""
    key = f"act:{round_}:{index}"
    done = ctx.store.job_result(key)
    if done is not None:
        return done
    action = decision.action
    if action.tool == "generate":
        jobs = _jobs(
            ctx,
            action.label,
            action.n,
            action.guidance,
            round_,
            index,
            topics,
            {"action": "generate", "guidance": action.guidance},
        )
        result = run_generation(ctx, jobs, f"Round {round_}: more {action.label!r}")
    elif action.tool == "contrast":
        half = math.ceil(action.n / 2)
        a, b = action.label, action.confused_with
        other = (
            f'Texts that resemble "{a}" on the surface but clearly belong to "{b}"; make the deciding '
            "cue explicit."
        )
        jobs = _jobs(
            ctx,
            a,
            half,
            action.guidance,
            round_,
            index,
            topics,
            {"action": "contrast", "targets": f"{a} vs {b}"},
        )
        jobs += (
            _jobs(
                ctx,
                b,
                action.n - half,
                other,
                round_,
                index,
                topics,
                {"action": "contrast", "targets": f"{b} vs {a}"},
            )
            if action.n - half > 0
            else []
        )
        result = run_generation(ctx, jobs, f"Round {round_}: contrast {a!r} / {b!r}")
    elif action.tool == "drop":
        ids = action.example_ids
        if decision.decided_by.startswith("policy"):
            ids = _judge_keep(ctx, ids)
        n = ctx.store.drop(
            ids, reason=f"round {round_} {decision.decided_by}: {action.reason}", round_=round_
        )
        result = {"dropped": n, "checked": len(action.example_ids)}
    elif action.tool == "relabel":
        new_id = ctx.store.relabel(action.example_id, action.label, reason=action.reason, round_=round_)
        result = {"relabelled": int(new_id is not None), "new_id": new_id}
    elif action.tool == "describe":
        descriptions = ctx.store.get_meta("descriptions", {})
        descriptions[action.label] = action.description
        ctx.store.set_meta("descriptions", descriptions)
        ctx.task = ctx.task.with_description(action.label, action.description)
        result = {"described": action.label}
    else:  # stop: handled by the runner
        result = {"stop": True}
    ctx.store.finish_job(key, result)
    return result


def _jobs(
    ctx: Context,
    label: str,
    n: int,
    guidance: str,
    round_: int,
    index: int,
    topics: dict[str, dict[str, list[str]]],
    extra: dict[str, Any],
) -> list[GenJob]:
    epc = ctx.config.examples_per_call
    subs = topics.get(label, {}).get("train") or ["any situation"]
    rng = random.Random(f"{ctx.config.seed}:{round_}:{index}:{label}")
    jobs, c = [], 0
    while n > 0:
        k = min(epc, n)
        attrs = {
            "topic": rng.choice(subs),
            "length": rng.choice(LENGTHS),
            "style": rng.choice(STYLES),
            "noise": rng.random() < 0.25,
        }
        jobs.append(
            GenJob(
                f"gen:r{round_}:a{index}:{label}:{c}",
                label,
                "train",
                "targeted",
                round_,
                k,
                attrs,
                sample_index=1000 * round_ + 10 * index + c,
                guidance=guidance,
                extra=extra,
            )
        )
        n -= k
        c += 1
    return jobs


def _judge_keep(ctx: Context, ids: list[int]) -> list[int]:
    """Ask the LLM (non-blind) whether each example fits its label; returns the ids it rejects."""
    rows = [e for e in (ctx.store.example(i) for i in ids) if e is not None and e["status"] == "active"]
    if not rows:
        return []
    r = render(
        "judge",
        task=ctx.task.description,
        labels=labels_text(ctx),
        n=len(rows),
        pairs=as_data([[e["text"], e["label"]] for e in rows]),
    )
    try:
        reply = ctx.llm.structured(
            r.messages,
            judge_reply(len(rows)),
            temperature=0.0,
            max_tokens=8 * len(rows) + 20,
            purpose="judge",
        )
    except LLMOutputError:
        return []
    return [e["id"] for e, ok in zip(rows, reply.ok, strict=True) if not ok]
