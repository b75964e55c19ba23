"""``run()``: Curate-Train-Refine from a task to a trained classifier, in a resumable run folder.

Round 0 curates a balanced, deduplicated, verified training set and a validation set the classifier
never trains on, then trains and evaluates. Each later round lets the agent (the LLM through tools, or a
deterministic policy) pick targeted actions from the last round's errors, executes them, and retrains.
The loop stops on patience, rounds, tokens or time, and keeps the best round's model.

This module only sequences the phases: :mod:`.setup` (open or resume a run), :mod:`.curate` (round 0),
:mod:`.decide` and :mod:`.actions` (refinement), :mod:`.verification`, :mod:`.train` (train, evaluate,
record).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.io import atomic_write_text
from ..errors import TutorloopError
from ..evaluation.analysis import RoundRecord, best_round
from ..llm.base import LLM
from .actions import execute, spec_of
from .config import LoopConfig
from .context import BudgetExhausted, Context
from .curate import curate
from .decide import decide, decided_by
from .generation import Topics
from .pool import pool_validation
from .setup import RunSetup, open_context, open_run
from .task import Task
from .train import refit_with_validation, save_model, train_round
from .verification import promote_pending, verify_pending


@dataclass
class RunResult:
    """What :func:`run` returns.

    ``predictor`` is the best round's fitted classifier (``predict``, ``predict_proba``, ``classes_``);
    ``history`` has one dict per round (validation accuracy, macro-F1, per-class F1, training size,
    examples added, tokens, seconds); ``ledger`` is the LLM ledger summary of the whole run.
    """

    predictor: Any
    history: list[dict[str, Any]]
    best_round: int
    run_dir: Path
    ledger: dict[str, Any]
    stopped: str = ""
    warnings: list[str] = field(default_factory=list)


def run(
    task: Task | str | Path | None = None,
    *,
    llm: LLM | None = None,
    classifier: Any = None,
    config: LoopConfig | None = None,
    out: str | Path | None = None,
    resume: bool | None = False,
    progress: bool = True,
    llm_spec: str | None = None,
) -> RunResult:
    """Run Curate-Train-Refine and return the best classifier with the run's history.

    ``task`` is a :class:`Task` or a task YAML path (optional with ``resume``: the run folder keeps a
    copy). ``llm`` defaults to the embedded local model (``get_llm(llm_spec or "local")``);
    ``classifier`` is a kind (``"tfidf"``, ``"embed"``, ``"setfit"``, ``"static"``; default ``"embed"``) or an
    estimator to clone. ``out`` is the run folder; ``resume=True`` continues a run there, skipping
    finished work (``resume=None``: continue it if there is one). The run records its LLM calls in its own
    ledger (``ledger.jsonl``); the ``llm`` object is not changed (its own ledger records them too).

    >>> from tutorloop.llm import FakeLLM             # doctest: +SKIP
    >>> result = run(Task.from_labels("Sentiment of movie reviews", ["positive", "negative"]),
    ...              llm=FakeLLM(responder=...), classifier="tfidf", out="runs/demo")  # doctest: +SKIP
    >>> result.predictor.predict(["what a wonderful film"])  # doctest: +SKIP
    """
    setup = open_run(out, task, config=config, classifier=classifier, llm_spec=llm_spec, resume=resume)
    if llm is None:
        from ..llm import get_llm

        llm = get_llm(setup.llm_spec or "local", **({"base_url": setup.base_url} if setup.base_url else {}))
    return run_opened(setup, llm, progress=progress)


def run_opened(setup: RunSetup, llm: LLM, *, progress: bool = True) -> RunResult:
    """Run (or continue) the run that :func:`~tutorloop.loop.setup.open_run` opened, with ``llm``."""
    try:
        ctx = open_context(setup, llm, progress=progress)
        try:
            return _Loop(ctx, setup.classifier).run()
        finally:
            _save_elapsed(ctx)
            ctx.store.close()
    finally:
        setup.release()


def _save_elapsed(ctx: Context) -> None:
    """Store the run's time so far on the way out (finished, Ctrl-C, SIGTERM, an error), so a resume
    counts it against ``time_budget_s``. Best effort: a store that cannot be written (disk full, damaged)
    must not hide the error that ended the run; the time of the last committed write is kept then."""
    try:
        ctx.store.save_elapsed()
    except (TutorloopError, sqlite3.Error):
        pass


class _Loop:
    def __init__(self, ctx: Context, classifier: Any):
        self.ctx = ctx
        self.classifier = classifier
        self.models: dict[int, Any] = {}
        self.topics: Topics = {}

    def run(self) -> RunResult:
        ctx = self.ctx
        stopped = ""
        t0 = time.monotonic()
        self.topics = curate(ctx)
        if not ctx.store.rounds():
            self._train(0, t0, decided_by="curation", diagnosis="", actions=[])
        rounds = ctx.config.max_rounds or 0  # resolved: an int
        for round_idx in range(1, rounds + 1):
            if self._recorded(round_idx):  # a resumed run: this round went ahead, so nothing stopped it
                continue
            stopped = self._should_stop(round_idx)
            if stopped:
                break
            stopped = self._refine_round(round_idx)
            if stopped and not self._recorded(round_idx):
                break
        else:
            stopped = stopped or f"max_rounds ({rounds}) reached"
        stopped = stopped or self._should_stop(rounds + 1) or "done"
        return self._finish(stopped)

    def _recorded(self, round_idx: int) -> bool:
        return any(h["round"] == round_idx for h in self.ctx.store.rounds())

    def _best(self) -> RoundRecord:
        best = best_round(self.ctx.store.rounds(), self.ctx.config.min_improvement)
        assert best is not None  # round 0 is recorded before anything asks
        return best

    def _refine_round(self, round_idx: int) -> str:
        """Decide, execute, verify, train; returns why the run stops ("" to go on)."""
        ctx = self.ctx
        t0 = time.monotonic()
        reason = ctx.budget.exhausted()
        if reason:
            return reason
        diagnosis, decisions = decide(ctx, round_idx, self._best())
        accepted = [d for d in decisions if d.status == "accepted"]
        stops = [d for d in accepted if spec_of(d.action.tool).ends_run]
        if stops:  # a stop outranks the other actions of the plan: nothing is executed
            d = stops[0]
            return f"{d.decided_by} chose to stop: {d.reason or getattr(d.action, 'reason', '')}"
        stop = ""
        try:
            for i, d in enumerate(decisions):
                if d.status == "accepted":
                    execute(ctx, d, round_idx, i, self.topics)
            if ctx.config.verify:
                verify_pending(ctx, round_idx, f"Round {round_idx}: verifying")
        except BudgetExhausted as exc:  # train on what this round added, then stop
            promote_pending(ctx, f"not verified: {exc.reason}")
            stop = exc.reason
        self._train(
            round_idx,
            t0,
            decided_by=decided_by(decisions),
            diagnosis=diagnosis,
            actions=[d.to_dict() for d in decisions],
        )
        return stop

    def _train(self, round_idx: int, t0: float, **record: Any) -> None:
        model, _ = train_round(self.ctx, self.classifier, round_idx, started=t0, **record)
        self.models[round_idx] = model

    def _should_stop(self, round_idx: int) -> str:
        cfg = self.ctx.config
        history = self.ctx.store.rounds()
        if not history:
            return ""
        since = history[-1]["round"] - self._best()["round"]
        if since >= cfg.patience:
            score = "trusted validation score" if "trusted_accuracy" in history[-1] else "validation macro-F1"
            return f"patience: no better {score} for {since} round(s)"
        if round_idx <= (cfg.max_rounds or 0):
            return self.ctx.budget.exhausted() or ""
        return ""

    def _finish(self, stopped: str) -> RunResult:
        ctx = self.ctx
        best = self._best()
        predictor = self.models.get(best["round"])
        pool_val = pool_validation(ctx.store)
        if ctx.pool is not None and ctx.config.refit_with_validation and pool_val:
            predictor = refit_with_validation(ctx, self.classifier, best)
            save_model(ctx, predictor, best, refit=len(pool_val))
            ctx.store.set_meta("refit", {"round": best["round"], "validation_texts": len(pool_val)})
        if predictor is None:
            from ..classifiers import load

            predictor = load(ctx.run_dir / "model")
        history = [{k: v for k, v in h.items() if k != "analysis"} for h in ctx.store.rounds()]
        rounds = "".join(json.dumps(h, ensure_ascii=False) + "\n" for h in history)
        atomic_write_text(ctx.run_dir / "rounds.jsonl", rounds)
        ctx.store.set_meta("stopped", stopped)
        ledger = ctx.budget.ledger.summary()
        try:
            from ..reports.render import write_report  # reports read the store; they never import loop

            write_report(ctx.run_dir)
        except ImportError as exc:
            ctx.warn(f'No report written: {exc}. Install it with: pip install "tutorloop[report]"')
        ctx.ui.line(
            f"stopped: {stopped}. Best round {best['round']} (val macro-F1 {best['macro_f1']:.3f}"
            + (
                f", trusted acc {best['trusted_accuracy']:.3f}"
                if best.get("trusted_accuracy") is not None
                else ""
            )
            + f"); "
            f"model in {ctx.run_dir / 'model'}; report in {ctx.run_dir / 'report.html'}"
        )
        return RunResult(predictor, history, best["round"], ctx.run_dir, ledger, stopped, list(ctx.warnings))
