"""The decision step of a refinement round: the LLM agent (tool calls) or the deterministic policy picks
the round's actions from the last round's analysis; the plan is logged once, so a resumed round reuses it.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from ..data.store import PlannedAction
from ..evaluation.analysis import RoundRecord
from ..prompts.schemas import Action, AnyAction
from .actions import Decision, spec_of
from .agent import agent_plan
from .context import Context
from .policy import policy_plan, pool_plan
from .pool import used_indices

_ACTION: TypeAdapter[AnyAction] = TypeAdapter(Action)


def who_decides(ctx: Context) -> str:
    """``llm`` or ``policy``: the config's ``agent``, or with ``auto`` the LLM's ``plans_tool_calls``."""
    if ctx.config.agent != "auto":
        return ctx.config.agent
    return "llm" if ctx.llm.plans_tool_calls else "policy"


def decide(ctx: Context, round_idx: int, best: RoundRecord) -> tuple[str, list[Decision]]:
    """Diagnosis and decisions for round ``round_idx`` (from the stored plan when it was decided before)."""
    phase = f"decide:{round_idx}"
    if ctx.store.phase_done(phase):
        info = ctx.store.phase_info(phase)
        return info["diagnosis"], [
            Decision(_ACTION.validate_python(d["action"]), d["decided_by"], d["reason"], d["status"])
            for d in info["decisions"]
        ]
    analysis = ctx.store.rounds()[-1]["analysis"]
    if who_decides(ctx) == "llm":
        diagnosis, decisions = agent_plan(ctx, analysis, round_idx, (best["macro_f1"], best["round"]))
        if not any(d.status == "accepted" and _usable(d.action) for d in decisions):
            why, fallback = policy_plan(analysis, ctx.config)
            for d in fallback:
                d.decided_by = "policy (agent gave no usable action)"
            decisions += fallback
            diagnosis = (diagnosis + " | " if diagnosis else "") + why
    elif ctx.pool is not None:
        left = len(ctx.unlabelled) - len(used_indices(ctx, ctx.pool))
        diagnosis, decisions = pool_plan(analysis, ctx.config, left)
    else:
        diagnosis, decisions = policy_plan(analysis, ctx.config)
    rows: list[PlannedAction] = [
        {
            "decided_by": d.decided_by,
            "tool": d.action.tool,
            "args": d.action.model_dump(),
            "reason": d.reason,
            "status": d.status,
        }
        for d in decisions
    ]
    ctx.store.record_plan(
        round_idx,
        rows,
        phase=phase,
        info={"diagnosis": diagnosis, "decisions": [d.to_dict() for d in decisions]},
    )
    return diagnosis, decisions


def decided_by(decisions: list[Decision]) -> str:
    """Who decided the accepted actions (for the round record), e.g. ``llm`` or ``nobody``."""
    return ", ".join(sorted({d.decided_by for d in decisions if d.status == "accepted"})) or "nobody"


def _usable(action: AnyAction) -> bool:
    """Whether an accepted action can move the run: it writes texts or stops it."""
    spec = spec_of(action.tool)
    return spec.adds_texts or spec.ends_run
