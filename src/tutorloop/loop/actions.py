"""The refinement actions: one registry entry per tool, holding its reply schema, its executor and the
description the LLM agent reads (the agent prompt's tool list is rendered from :data:`REGISTRY`).

The policy and the LLM agent drive the same executors. Each executor is idempotent: its job key
(``act:<round>:<index>``) is recorded with its result, so a resumed run neither repeats nor pays for
finished actions. Adding an action: a schema in :mod:`tutorloop.prompts.schemas` (also in its ``Action``
union), an executor here, and a :func:`register` call.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError, LLMOutputError
from ..prompts.schemas import (
    AnyAction,
    ContrastAction,
    DescribeAction,
    DropAction,
    GenerateAction,
    LabelPoolAction,
    RelabelAction,
    StopAction,
)
from .context import Context
from .generation import GenJob, Topics, run_generation, targeted_jobs
from .label_space import shown_for_labels
from .llm_tasks import JUDGE, ask


@dataclass
class Decision:
    """One action, who decided it and why; ``status`` is ``accepted`` or ``rejected: <why>``."""

    action: AnyAction
    decided_by: str
    reason: str
    status: str = "accepted"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.model_dump(),
            "decided_by": self.decided_by,
            "reason": self.reason,
            "status": self.status,
        }


@dataclass(frozen=True)
class ActionCall:
    """What an executor gets: the run's context, the accepted decision, the round, the action's index in
    the round's plan (part of its job keys) and the run's sub-topics."""

    ctx: Context
    decision: Decision
    round_idx: int
    action_idx: int
    topics: Topics


Executor = Callable[[ActionCall], dict[str, Any]]
"""``executor(call) -> result`` (JSON-able; recorded with the action's job key)."""


@dataclass(frozen=True)
class ActionSpec:
    """A refinement tool: its name, reply schema, executor and one-line description for the agent.

    ``adds_texts``: the action writes new texts (its ``n`` counts against the round's budget of new
    texts); ``ends_run``: the action stops the run (the runner handles it; nothing is executed).
    """

    tool: str
    schema: type[BaseModel]
    execute: Executor
    description: str
    adds_texts: bool = False
    ends_run: bool = False


REGISTRY: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    """Add ``spec`` to the registry (in prompt order); its tool name must match its schema's."""
    if _tool_of(spec.schema) != spec.tool:
        raise ConfigError(f"Action {spec.tool!r} has a schema for tool {_tool_of(spec.schema)!r}.")
    REGISTRY[spec.tool] = spec
    return spec


def spec_of(tool: str) -> ActionSpec:
    """The registered action called ``tool``; an unknown tool is an error."""
    try:
        return REGISTRY[tool]
    except KeyError:
        raise ConfigError(
            f"Unknown refinement action {tool!r}. Registered actions: {', '.join(REGISTRY)}."
        ) from None


def tool_descriptions() -> str:
    """The agent prompt's tool list: one ``- tool: description`` line per registered action."""
    return "\n".join(f"- {s.tool}: {s.description}" for s in REGISTRY.values())


def unregistered_schemas() -> list[str]:
    """Tools of the ``Action`` union without a registry entry (should be empty)."""
    return [t for t in (_tool_of(m) for m in typing.get_args(AnyAction)) if t not in REGISTRY]


def _tool_of(schema: type[BaseModel]) -> str:
    (tool,) = typing.get_args(schema.model_fields["tool"].annotation)
    return str(tool)


def execute(
    ctx: Context, decision: Decision, round_idx: int, action_idx: int, topics: Topics
) -> dict[str, Any]:
    """Run one accepted decision; returns (and records) what it did."""
    key = f"act:{round_idx}:{action_idx}"
    done = ctx.store.job_result(key)
    if done is not None:
        return dict(done)
    result = spec_of(decision.action.tool).execute(ActionCall(ctx, decision, round_idx, action_idx, topics))
    ctx.store.finish_job(key, result)
    return result


# -- executors ----------------------------------------------------------------------------------------
def _generate(call: ActionCall) -> dict[str, Any]:
    action = call.decision.action
    assert isinstance(action, GenerateAction)
    extra = {"action": "generate", "guidance": action.guidance}
    jobs = _targeted(call, action.label, action.n, action.guidance, extra)
    return run_generation(call.ctx, jobs, f"Round {call.round_idx}: more {action.label!r}")


def _contrast(call: ActionCall) -> dict[str, Any]:
    action = call.decision.action
    assert isinstance(action, ContrastAction)
    half = math.ceil(action.n / 2)
    a, b = action.label, action.confused_with
    other = (
        f'Texts that resemble "{a}" on the surface but clearly belong to "{b}"; make the deciding '
        "cue explicit."
    )
    jobs = _targeted(call, a, half, action.guidance, {"action": "contrast", "targets": f"{a} vs {b}"})
    if action.n - half > 0:
        jobs += _targeted(call, b, action.n - half, other, {"action": "contrast", "targets": f"{b} vs {a}"})
    return run_generation(call.ctx, jobs, f"Round {call.round_idx}: contrast {a!r} / {b!r}")


def _targeted(call: ActionCall, label: str, n: int, guidance: str, extra: dict[str, Any]) -> list[GenJob]:
    return targeted_jobs(
        call.ctx,
        call.topics,
        label,
        n,
        guidance=guidance,
        round_idx=call.round_idx,
        action_idx=call.action_idx,
        extra=extra,
    )


def _drop(call: ActionCall) -> dict[str, Any]:
    action, who = call.decision.action, call.decision.decided_by
    assert isinstance(action, DropAction)
    ids = action.example_ids
    if who.startswith("policy"):
        ids = _judge_rejects(call.ctx, ids)
    reason = f"round {call.round_idx} {who}: {action.reason}"
    n = call.ctx.store.drop(ids, reason=reason, round_idx=call.round_idx)
    return {"dropped": n, "checked": len(action.example_ids)}


def _relabel(call: ActionCall) -> dict[str, Any]:
    action = call.decision.action
    assert isinstance(action, RelabelAction)
    store = call.ctx.store
    new_id = store.relabel(action.example_id, action.label, reason=action.reason, round_idx=call.round_idx)
    return {"relabelled": int(new_id is not None), "new_id": new_id}


def _describe(call: ActionCall) -> dict[str, Any]:
    action, ctx = call.decision.action, call.ctx
    assert isinstance(action, DescribeAction)
    descriptions = ctx.store.get_meta("descriptions", {})
    descriptions[action.label] = action.description
    ctx.store.set_meta("descriptions", descriptions)
    ctx.task = ctx.task.with_description(action.label, action.description)
    return {"described": action.label}


def _label_pool(call: ActionCall) -> dict[str, Any]:
    from .pool import label_uncertain

    action, ctx = call.decision.action, call.ctx
    assert isinstance(action, LabelPoolAction)
    if ctx.pool is None:
        return {"labelled": 0, "why": "the run has no unlabelled texts (or no sentence encoder)"}
    key = f"pool:{call.round_idx}:{call.action_idx}"
    return {"labelled": label_uncertain(ctx, ctx.pool, action.n, round_idx=call.round_idx, key=key)}


def _stop(call: ActionCall) -> dict[str, Any]:
    return {"stop": True}  # the runner stops before executing anything; kept for completeness


def _judge_rejects(ctx: Context, ids: list[int]) -> list[int]:
    """Ask the LLM (non-blind) whether each example fits its label; returns the ids it rejects."""
    rows = [e for e in (ctx.store.example(i) for i in ids) if e is not None and e["status"] == "active"]
    if not rows:
        return []
    try:
        pairs = [(e["text"], e["label"]) for e in rows]
        reply: Any = ask(ctx, JUDGE.job(ctx.task, pairs, shown_for_labels(ctx, {e["label"] for e in rows})))
    except LLMOutputError:
        return []
    return [e["id"] for e, ok in zip(rows, reply.ok, strict=True) if not ok]


# -- the registry, in the order the agent prompt lists the tools --------------------------------------
register(
    ActionSpec(
        "generate",
        GenerateAction,
        _generate,
        '{"tool":"generate","label":L,"guidance":G,"n":N} writes N new training texts for label L following '
        "guidance G (hard cases, missing cues).",
        adds_texts=True,
    )
)
register(
    ActionSpec(
        "contrast",
        ContrastAction,
        _contrast,
        '{"tool":"contrast","label":L,"confused_with":M,"guidance":G,"n":N} writes N texts of L that '
        "resemble M on the surface but clearly belong to L.",
        adds_texts=True,
    )
)
register(
    ActionSpec(
        "drop",
        DropAction,
        _drop,
        '{"tool":"drop","example_ids":[...],"reason":R} removes training examples that look mislabelled (ids '
        "from the report).",
    )
)
register(
    ActionSpec(
        "relabel",
        RelabelAction,
        _relabel,
        '{"tool":"relabel","example_id":I,"label":L,"reason":R} changes the label of one training example.',
    )
)
register(
    ActionSpec(
        "describe",
        DescribeAction,
        _describe,
        '{"tool":"describe","label":L,"description":D} rewrites the description of a label (it guides future '
        "texts).",
    )
)
register(
    ActionSpec(
        "label_pool",
        LabelPoolAction,
        _label_pool,
        '{"tool":"label_pool","n":N} labels N of the user\'s unlabelled texts where the classifier is least '
        "sure (only when the task has unlabelled texts).",
        adds_texts=True,
    )
)
register(
    ActionSpec(
        "stop",
        StopAction,
        _stop,
        '{"tool":"stop","reason":R} ends training when more data will not help.',
        ends_run=True,
    )
)
