"""The LLM agent: the LLM reads a compact report and steers the next round through tool calls.

Its reply is validated twice: by the :class:`~tutorloop.prompts.schemas.AgentPlan` schema, then
against the run (known labels, editable training ids, the round's budget of new texts). Invalid calls are
rejected and logged, never executed. Texts in the report are quoted as JSON data.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ..errors import LLMOutputError
from ..evaluation.analysis import Analysis
from ..prompts import AgentPlan, as_data
from ..prompts.schemas import AnyAction, RelabelAction
from .actions import Decision, spec_of, tool_descriptions
from .context import Context
from .label_space import shown_for_labels
from .llm_tasks import AGENT, ask


def compact_report(analysis: Analysis) -> dict[str, Any]:
    """What the agent sees: weak labels, confusions, misclassified validation texts with probabilities,
    confident successes and suspicious training examples (with ids it may drop or relabel)."""

    def cut(t: str) -> str:
        return t if len(t) <= 200 else t[:197] + "..."

    weak = analysis["weak_labels"][:8]
    counts = analysis.get("train_counts", {})
    return {
        "weak_labels": [
            {
                "label": w["label"],
                "f1": w["f1"],
                "precision": w["precision"],
                "recall": w["recall"],
                "val_support": w["support"],
                "train_examples": counts.get(w["label"], 0),
            }
            for w in weak
        ],
        "confusions": analysis["confusions"][:8],
        "misclassified_validation": [
            {
                "text": cut(r["text"]),
                "label": r["label"],
                "predicted": r["predicted"],
                "p_predicted": r["p_predicted"],
            }
            for r in analysis["misclassified"][:8]
        ],
        "confident_successes": [
            {"text": cut(r["text"]), "label": r["label"], "p": r["p_predicted"]}
            for r in analysis["successes"][:4]
        ],
        "suspect_training_examples": [
            {
                "id": r["id"],
                "text": cut(r["text"]),
                "label": r["label"],
                "p_label": r["p_label"],
                "predicted": r["predicted"],
            }
            for r in analysis.get("implausible", [])[:8]
        ],
    }


def agent_plan(
    ctx: Context, analysis: Analysis, round_idx: int, best: tuple[float, int]
) -> tuple[str, list[Decision]]:
    """Ask the LLM for a diagnosis and tool calls; returns them validated (rejected ones included)."""
    cfg = ctx.config
    m = analysis["metrics"]
    report = compact_report(analysis)
    job = AGENT.job(
        ctx.task,
        round_idx,
        tools=tool_descriptions(),
        max_actions=cfg.max_actions_per_round,
        max_new=cfg.targeted_per_round,
        macro_f1=f"{m['macro_f1']:.3f}",
        accuracy=f"{m['accuracy']:.3f}",
        best_f1=f"{best[0]:.3f}",
        best_round=best[1],
        budget=ctx.budget.left(),
        report=as_data(report),
        shown=shown_for_labels(ctx, _report_labels(report)),
    )
    try:
        plan = ask(ctx, job)
        assert isinstance(plan, AgentPlan)
    except LLMOutputError as exc:
        return f"agent reply invalid ({exc}); the policy decides this round", []
    return plan.diagnosis[:1200], validate_actions(ctx, plan.actions, decided_by="llm")


def _report_labels(report: dict[str, Any]) -> set[str]:
    """The labels a compact report names (what the agent's prompt lists when labels are shortlisted)."""
    rows = [row for part in report.values() for row in part]
    return {str(row[k]) for row in rows for k in ("label", "predicted") if k in row}


def validate_actions(ctx: Context, actions: Sequence[AnyAction], *, decided_by: str) -> list[Decision]:
    """Check each tool call against the run; returns decisions, rejected ones with the reason."""
    cfg = ctx.config
    labels = ctx.task.label_names
    allowance = cfg.targeted_per_round or 16
    out: list[Decision] = []
    accepted = 0
    for action in actions:
        reason = getattr(action, "reason", "") or getattr(action, "guidance", "") or ""
        problem = _problem(ctx, action, labels)
        if problem is None and accepted >= cfg.max_actions_per_round:
            problem = f"more than {cfg.max_actions_per_round} actions in one round"
        if problem is None and spec_of(action.tool).adds_texts:
            if allowance <= 0:
                problem = f"over the round's budget of {cfg.targeted_per_round} new texts"
            else:
                n = min(int(action.model_dump()["n"]), allowance)  # every text-writing action has an n
                action = action.model_copy(update={"n": n})
                allowance -= n
        if problem is None and action.tool == "drop":  # at most 10 distinct ids
            action = action.model_copy(update={"example_ids": sorted(set(action.example_ids))[:10]})
        if problem is None:
            accepted += 1
        out.append(
            Decision(
                action, decided_by, reason[:300], "accepted" if problem is None else f"rejected: {problem}"
            )
        )
    return out


def _problem(ctx: Context, action: AnyAction, labels: list[str]) -> str | None:
    if action.tool == "label_pool" and ctx.pool is None:
        return "the task has no unlabelled texts to label"
    for field in ("label", "confused_with"):
        value = getattr(action, field, None)
        if value is not None and value not in labels:
            close = difflib.get_close_matches(value, labels, n=1)
            return f"unknown label {value!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if action.tool == "contrast" and action.label == action.confused_with:
        return "a contrast needs two different labels"
    ids = list(getattr(action, "example_ids", []) or [])
    if isinstance(action, RelabelAction):
        ids = [action.example_id]
    for ex_id in ids:
        ex = ctx.store.example(ex_id)
        if ex is None or ex["status"] != "active":
            return f"example {ex_id} is not an active example"
        if ex["split"] != "train":
            return f"example {ex_id} is validation data, which the agent may not change"
        if ex["origin"] in ("seed", "user"):
            return f"example {ex_id} was given by the user, which the agent may not change"
    if isinstance(action, RelabelAction):
        ex = ctx.store.example(action.example_id)
        if ex is not None and ex["label"] == action.label:
            return f"example {action.example_id} already has label {action.label!r}"
    return None
