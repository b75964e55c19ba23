"""The refinement-action registry, the agent's tool list, the LLM capability and the run's own ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_loop_support import fake_llm

from tutorloop.errors import ConfigError
from tutorloop.llm import FakeLLM, Ledger
from tutorloop.loop import LoopConfig, RunResult, Task, run
from tutorloop.loop.actions import (
    REGISTRY,
    Decision,
    execute,
    spec_of,
    tool_descriptions,
    unregistered_schemas,
)
from tutorloop.loop.setup import open_run
from tutorloop.prompts import render
from tutorloop.prompts.schemas import StopAction


def _small_run(llm: FakeLLM, tmp_path: Path, *, max_rounds: int) -> RunResult:
    cfg = LoopConfig(examples_per_label=6, val_per_label=3, max_rounds=max_rounds)
    task = Task.from_labels("Sentiment", ["positive", "negative"])
    return run(task, llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r", progress=False)


def test_every_action_schema_has_a_registry_entry() -> None:
    assert unregistered_schemas() == []
    assert list(REGISTRY) == ["generate", "contrast", "drop", "relabel", "describe", "label_pool", "stop"]
    assert {t for t, s in REGISTRY.items() if s.adds_texts} == {"generate", "contrast", "label_pool"}


def test_agent_prompt_lists_the_registered_tools() -> None:
    values = dict(
        task="t",
        labels="- a",
        max_actions=3,
        max_new=8,
        round=1,
        macro_f1="0.5",
        accuracy="0.5",
        best_f1="0.5",
        best_round=0,
        budget="unlimited",
        report="{}",
    )
    system = render("agent", tools=tool_descriptions(), **values).messages[0].content
    for spec in REGISTRY.values():
        assert f"- {spec.tool}: {spec.description}\n" in system


def test_unknown_tool_is_an_error() -> None:
    with pytest.raises(ConfigError, match="Unknown refinement action 'teleport'"):
        spec_of("teleport")
    decision = Decision(StopAction(tool="stop"), "llm", "")
    object.__setattr__(decision.action, "tool", "teleport")

    class _Store:
        def job_result(self, key: str) -> None:
            return None

    class _Ctx:
        store = _Store()

    with pytest.raises(ConfigError):
        execute(_Ctx(), decision, 1, 0, {})  # type: ignore[arg-type]


def test_plans_tool_calls_decides_auto_agent(tmp_path: Path) -> None:
    assert FakeLLM(replies=[]).plans_tool_calls is False
    plan = {"diagnosis": "d", "actions": [{"tool": "generate", "label": "negative", "guidance": "g", "n": 4}]}
    llm, _ = fake_llm(["positive", "negative"], agent_plan=plan)
    llm.plans_tool_calls = True  # as FakeLLM(plans_tool_calls=True)
    result = _small_run(llm, tmp_path, max_rounds=1)
    assert any(r.json_schema and r.json_schema.get("title") == "AgentPlan" for r in llm.requests)
    assert result.history[1]["decided_by"] == "llm"


def test_run_keeps_its_own_ledger_and_leaves_the_callers_llm_alone(tmp_path: Path) -> None:
    llm, _ = fake_llm(["positive", "negative"])
    own = Ledger(cost_per_1k=(1.0, 2.0))
    llm.ledger = own
    result = _small_run(llm, tmp_path, max_rounds=0)
    assert llm.ledger is own and len(own.entries) == result.ledger["calls"] > 0
    assert (tmp_path / "r" / "ledger.jsonl").read_text().count("\n") == result.ledger["calls"]
    assert result.ledger["cost_usd"] == pytest.approx(own.summary()["cost_usd"])


def test_open_run_resumes_with_saved_settings_and_overrides(tmp_path: Path) -> None:
    task = Task.from_labels("Sentiment", ["positive", "negative"])
    first = open_run(tmp_path / "r", task, config=LoopConfig(max_rounds=2), classifier="tfidf", llm_spec="x")
    assert not first.resumed
    first.release()  # one process at a time per run folder (tests/unit/test_loop.py)
    again = open_run(tmp_path / "r", overrides={"max_rounds": 4}, resume=True)
    assert (again.config.max_rounds, again.classifier, again.llm_spec, again.resumed) == (
        4,
        "tfidf",
        "x",
        True,
    )
    again.release()
    assert open_run(tmp_path / "r", resume=None).resumed
    with pytest.raises(ConfigError, match="nothing to resume"):
        open_run(tmp_path / "none", resume=True)
