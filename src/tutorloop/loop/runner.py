"""``run()``: Curate-Train-Refine from a task to a trained classifier, in a resumable run folder.

Round 0 curates a balanced, deduplicated, verified training set and a validation set the classifier
never trains on, then trains and evaluates. Each later round lets the agent (the LLM through tools, or a
deterministic policy) pick targeted actions from the last round's errors, executes them, and retrains.
The loop stops on patience, rounds, tokens or time, and keeps the best round's model.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ..data.dedup import Deduper
from ..data.store import Store
from ..errors import BudgetError, ConfigError, DataError
from ..evaluation.analysis import is_better
from ..llm.base import LLM
from ..llm.ledger import Ledger
from ..prompts.schemas import Action
from . import curate
from .actions import execute
from .agent import agent_plan
from .config import LoopConfig
from .context import UI, Budget, BudgetExhausted, Context
from .policy import Decision, policy_plan
from .task import Task
from .train import train_and_evaluate

_ACTION = TypeAdapter(Action)


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
    resume: bool = False,
    progress: bool = True,
    llm_spec: str | None = None,
) -> RunResult:
    """Run Curate-Train-Refine and return the best classifier with the run's history.

    ``task`` is a :class:`Task` or a task YAML path (optional with ``resume``: the run folder keeps a
    copy). ``llm`` defaults to the embedded local model (``get_llm(llm_spec or "local")``);
    ``classifier`` is a kind (``"tfidf"``, ``"embed"``, ``"setfit"``, default ``"embed"``) or an
    estimator to clone. ``out`` is the run folder; ``resume=True`` continues a run there, skipping
    finished work.

    >>> from tutorloop.llm import FakeLLM             # doctest: +SKIP
    >>> result = run(Task.from_labels("Sentiment of movie reviews", ["positive", "negative"]),
    ...              llm=FakeLLM(responder=...), classifier="tfidf", out="runs/demo")  # doctest: +SKIP
    >>> result.predictor.predict(["what a wonderful film"])  # doctest: +SKIP
    """
    run_dir, task, config, classifier, llm_spec = _prepare(task, config, classifier, out, resume, llm_spec)
    if llm is None:
        from ..llm import get_llm

        llm = get_llm(llm_spec or "local")
    llm.ledger = Ledger(run_dir / "ledger.jsonl", cost_per_1k=getattr(llm.ledger, "cost_per_1k", (0.0, 0.0)))
    cfg = config.resolved(len(task.labels))
    store = Store(run_dir / "store.sqlite")
    descriptions = store.get_meta("descriptions", {})
    for name, desc in descriptions.items():
        task = task.with_description(name, desc)
    ctx = Context(
        task,
        cfg,
        llm,
        store,
        Deduper(cfg.dedup_threshold, _encoder(cfg, classifier)),
        Budget(llm, cfg.token_budget, cfg.time_budget_s),
        UI(progress),
        run_dir,
    )
    ctx.warnings = list(store.get_meta("warnings", []))
    ctx.dedup.seed([e["text"] for e in store.examples(status=None)])
    if task.unlabelled is not None:
        ctx.unlabelled = _read_unlabelled(ctx)
    try:
        return _Loop(ctx, classifier).run()
    finally:
        store.close()


# -- setup ------------------------------------------------------------------------------------------------
def _prepare(
    task: Any, config: LoopConfig | None, classifier: Any, out: Any, resume: bool, llm_spec: str | None
) -> tuple[Path, Task, LoopConfig, Any, str | None]:
    if out is None:
        out = Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir = Path(out)
    saved = _read_json(run_dir / "config.json")
    if resume:
        if saved is None:
            raise ConfigError(f"{run_dir} is not a tutorloop run folder (no config.json); nothing to resume.")
        if task is None:
            task = Task.from_yaml(run_dir / "task.yaml")
        config = config or LoopConfig.from_dict(saved["config"])
        classifier = classifier or saved.get("classifier") or "embed"
        llm_spec = llm_spec or saved.get("llm_spec")
    else:
        if (run_dir / "store.sqlite").exists():
            raise ConfigError(
                f"{run_dir} already holds a run. Resume it with `tutorloop run --resume {run_dir}` "
                "(resume=True), or choose another --out folder."
            )
        if task is None:
            raise ConfigError(
                "run() needs a task (a Task or a task YAML path), or resume=True with a run folder."
            )
        config = config or LoopConfig()
        classifier = classifier or "embed"
    if isinstance(task, str | Path):
        task = Task.from_yaml(task)
    if not isinstance(config, LoopConfig):
        raise ConfigError(f"config must be a LoopConfig. Got {type(config).__name__} instead.")
    run_dir.mkdir(parents=True, exist_ok=True)
    task.to_yaml(run_dir / "task.yaml")
    kind = classifier if isinstance(classifier, str) else type(classifier).__name__
    (run_dir / "config.json").write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "classifier": kind,
                "llm_spec": llm_spec,
                "classifier_params": {} if isinstance(classifier, str) else _params(classifier),
            },
            indent=2,
        )
    )
    return run_dir, task, config, classifier, llm_spec


def _params(estimator: Any) -> dict[str, Any]:
    try:
        return {
            k: v for k, v in estimator.get_params().items() if isinstance(v, str | int | float | bool | None)
        }
    except Exception:  # noqa: BLE001 - only informative
        return {}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _encoder(cfg: LoopConfig, classifier: Any) -> Any:
    want = cfg.dedup_method == "embed" or (cfg.dedup_method == "auto" and classifier in ("embed", "setfit"))
    if not want:
        return None
    try:
        from ..classifiers.encoder import get_encoder

        return get_encoder().encode
    except Exception as exc:  # noqa: BLE001 - the MinHash fallback is always there
        if cfg.dedup_method == "embed":
            raise ConfigError(
                f"dedup_method='embed' needs the sentence encoder, which failed to load: {exc}"
            ) from exc
        return None


def _read_unlabelled(ctx: Context) -> list[str]:
    """A uniform sample (reservoir) of at most ``max_unlabelled`` texts; empty files are an error."""
    import random

    from ..data.io import iter_texts

    f = ctx.task.unlabelled
    assert f is not None
    cap = ctx.config.max_unlabelled
    rng = random.Random(f"{ctx.config.seed}:unlabelled")
    sample: list[str] = []
    total = 0
    for batch in iter_texts(f.path, f.text_column):
        for text in batch:
            total += 1
            if len(sample) < cap:
                sample.append(text)
            else:
                j = rng.randrange(total)
                if j < cap:
                    sample[j] = text
    if total == 0:
        raise DataError(
            f"The unlabelled file {f.path} has no texts. Remove 'unlabelled' from the task file or "
            "give a file with one text per line (or a text column)."
        )
    if total > cap:
        ctx.warn(
            f"The unlabelled file has {total:,} texts; using a uniform sample of {cap:,} (max_unlabelled)."
        )
    return sample


# -- the loop ----------------------------------------------------------------------------------------------
class _Loop:
    def __init__(self, ctx: Context, classifier: Any):
        self.ctx = ctx
        self.classifier = classifier
        self.models: dict[int, Any] = {}
        self.topics: dict[str, dict[str, list[str]]] = {}

    @property
    def agent(self) -> str:
        cfg, llm = self.ctx.config, self.ctx.llm
        if cfg.agent != "auto":
            return cfg.agent
        return "policy" if llm.backend in ("local", "fake") or "llama" in llm.backend else "llm"

    def run(self) -> RunResult:
        ctx = self.ctx
        stopped = ""
        t0 = time.monotonic()
        tokens0 = ctx.budget.tokens_used()
        self.topics = self._curate()
        if not ctx.store.rounds():
            self._train_round(0, t0, tokens0, decided_by="curation", diagnosis="", actions=[])
        for r in range(1, ctx.config.max_rounds + 1):
            stopped = self._should_stop(r)
            if stopped:
                break
            if any(h["round"] == r for h in ctx.store.rounds()):
                continue
            stopped = self._refine_round(r)
            if stopped and not any(h["round"] == r for h in ctx.store.rounds()):
                break
        else:
            stopped = stopped or f"max_rounds ({ctx.config.max_rounds}) reached"
        stopped = stopped or self._should_stop(ctx.config.max_rounds + 1) or "done"
        return self._finish(stopped)

    # -- round 0 -------------------------------------------------------------------------------------------
    def _curate(self) -> dict[str, dict[str, list[str]]]:
        ctx, cfg = self.ctx, self.ctx.config
        if ctx.store.phase_done("curate"):
            return ctx.store.phase_info("curate")["topics"]
        t0 = time.monotonic()
        topics: dict[str, dict[str, list[str]]] = {}
        partial = None
        try:
            curate.store_seeds(ctx)
            has_dev = curate.store_dev(ctx) > 0
            topics = curate.propose_topics(ctx)
            epl = cfg.examples_per_label or 24
            per_label = {lab.name: max(0, epl - len(lab.examples)) for lab in ctx.task.labels}
            if not has_dev and ctx.unlabelled:
                curate.label_unlabelled(ctx, min(400, (cfg.val_per_label or 4) * len(ctx.task.labels)))
            jobs = []  # validation first: it is small, and a budget that ends mid-phase still leaves a score
            if not has_dev and not ctx.unlabelled:
                jobs += curate.curation_jobs(ctx, topics, split="val", per_label=cfg.val_per_label or 4)
            jobs += curate.curation_jobs(ctx, topics, split="train", per_label=per_label)
            curate.run_generation(ctx, jobs, "Curating examples")
            if cfg.verify:
                curate.verify_pending(ctx, 0)
            need = curate.topup_targets(ctx, epl)
            if need:
                extra = curate.curation_jobs(ctx, topics, split="train", per_label=need, start=100, tag="+")
                curate.run_generation(ctx, extra, "Topping up thin labels")
                if cfg.verify:
                    curate.verify_pending(ctx, 0, "Verifying top-up")
        except BudgetExhausted as exc:
            partial = exc.reason
            n = curate.promote_pending(ctx, f"not verified: {exc.reason}")
            ctx.warn(f"Curation stopped early: {exc.reason}. Kept what exists ({n} example(s) unverified).")
        curate.restore_floor(ctx, "train")
        # a small model may dispute every validation text of a label (or all of them): without any, no
        # round can be scored, so keep at least one disputed text per label (its verdict stays recorded)
        curate.restore_floor(ctx, "val", minimum=1)
        curate.balance(ctx, cfg.examples_per_label or 24)
        self._check_curated(partial)
        ctx.store.finish_phase(
            "curate", {"topics": topics, "partial": partial, "seconds": round(time.monotonic() - t0, 1)}
        )
        return topics

    def _check_curated(self, partial: str | None) -> None:
        ctx = self.ctx
        counts = ctx.store.counts("train")
        empty = [lab for lab in ctx.task.label_names if counts.get(lab, 0) == 0]
        where = f"What was curated stays in {ctx.run_dir}."
        if partial and (empty or not ctx.store.examples(split="val")):
            raise BudgetError(
                f"The budget ran out before one round could finish ({partial}); labels without "
                f"training examples: {empty or 'none'}, validation examples: "
                f"{len(ctx.store.examples(split='val'))}. {where} Raise token_budget/time_budget_s "
                f"and resume with `tutorloop run --resume {ctx.run_dir}`."
            )
        for lab in empty:
            jobs = [e for e in ctx.store.examples(split="train", status=None, label=lab)]
            ctx.warn(
                f"Label {lab!r} yielded no usable examples (the model refused, replied empty, or every text "
                f"was disputed; {len(jobs)} candidate(s)). Continuing with the other labels; add a few seed "
                "examples for it in the task file."
            )
        if len(ctx.task.labels) - len(empty) < 2:
            raise DataError(
                f"Fewer than two labels have training examples (empty: {empty}). {where} Add seed "
                "examples to the task file, or try a stronger LLM (--llm)."
            )

    # -- refinement rounds ---------------------------------------------------------------------------------
    def _refine_round(self, r: int) -> str:
        ctx = self.ctx
        t0, tokens0 = time.monotonic(), ctx.budget.tokens_used()
        reason = ctx.budget.exhausted()
        if reason:
            return reason
        diagnosis, decisions = self._decide(r)
        stops = [d for d in decisions if d.status == "accepted" and d.action.tool == "stop"]
        if stops:  # a stop outranks the other actions of the plan: nothing is executed
            d = stops[0]
            return f"{d.decided_by} chose to stop: {d.reason or d.action.reason}"
        stop = ""
        try:
            for i, d in enumerate(decisions):
                if d.status == "accepted":
                    execute(ctx, d, r, i, self.topics)
            if ctx.config.verify:
                curate.verify_pending(ctx, r, f"Round {r}: verifying")
        except BudgetExhausted as exc:  # train on what this round added, then stop
            curate.promote_pending(ctx, f"not verified: {exc.reason}")
            stop = exc.reason
        self._train_round(
            r,
            t0,
            tokens0,
            decided_by=self._who(decisions),
            diagnosis=diagnosis,
            actions=[d.to_dict() for d in decisions],
        )
        return stop

    def _decide(self, r: int) -> tuple[str, list[Decision]]:
        ctx = self.ctx
        phase = f"decide:{r}"
        if ctx.store.phase_done(phase):
            info = ctx.store.phase_info(phase)
            return info["diagnosis"], [
                Decision(_ACTION.validate_python(d["action"]), d["decided_by"], d["reason"], d["status"])
                for d in info["decisions"]
            ]
        last = ctx.store.rounds()[-1]
        analysis = last["analysis"]
        best = self._best()
        if self.agent == "llm":
            diagnosis, decisions = agent_plan(ctx, analysis, r, (best["macro_f1"], best["round"]))
            if not any(
                d.status == "accepted" and d.action.tool in ("generate", "contrast", "stop")
                for d in decisions
            ):
                why, fallback = policy_plan(analysis, ctx.config)
                for d in fallback:
                    d.decided_by = "policy (agent gave no usable action)"
                decisions += fallback
                diagnosis = (diagnosis + " | " if diagnosis else "") + why
        else:
            diagnosis, decisions = policy_plan(analysis, ctx.config)
        rows = [
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
            r, rows, phase=phase, info={"diagnosis": diagnosis, "decisions": [d.to_dict() for d in decisions]}
        )
        return diagnosis, decisions

    @staticmethod
    def _who(decisions: list[Decision]) -> str:
        return ", ".join(sorted({d.decided_by for d in decisions if d.status == "accepted"})) or "nobody"

    def _should_stop(self, r: int) -> str:
        cfg = self.ctx.config
        history = self.ctx.store.rounds()
        if not history:
            return ""
        best = self._best()
        since = history[-1]["round"] - best["round"]
        if since >= cfg.patience:
            return f"patience: no better validation macro-F1 for {since} round(s)"
        if r <= cfg.max_rounds:
            return self.ctx.budget.exhausted() or ""
        return ""

    def _best(self) -> dict[str, Any]:
        best = None
        for h in self.ctx.store.rounds():
            if best is None or is_better(h, best, self.ctx.config.min_improvement):
                best = h
        assert best is not None
        return best

    # -- training ------------------------------------------------------------------------------------------
    def _train_round(
        self,
        r: int,
        t0: float,
        tokens0: int,
        *,
        decided_by: str,
        diagnosis: str,
        actions: list[dict[str, Any]],
    ) -> None:
        ctx = self.ctx
        with ctx.ui.phase(f"Round {r}: training", 1) as advance:
            model, analysis = train_and_evaluate(ctx, self.classifier, r)
            advance()
        m = analysis["metrics"]
        train_all = ctx.store.examples(split="train", status=None)
        entry = {
            "round": r,
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "log_loss": None if m.get("log_loss") is None else round(float(m["log_loss"]), 4),
            "per_class": {lab: round(v["f1"], 4) for lab, v in m["per_class"].items()},
            "n_train": analysis["n_train"],
            "n_val": analysis["n_val"],
            "added": sum(1 for e in train_all if e["round"] == r and e["status"] == "active"),
            "dropped": sum(1 for e in train_all if e["dropped_round"] == r and e["round"] < r),
            "tokens": ctx.budget.tokens_used() - tokens0,
            "tokens_total": ctx.budget.tokens_used(),
            "seconds": round(time.monotonic() - t0, 1),
            "decided_by": decided_by,
            "diagnosis": diagnosis,
            "actions": actions,
            "top_confusions": analysis["confusions"][:5],
        }
        is_best = not ctx.store.rounds() or is_better(entry, self._best(), ctx.config.min_improvement)
        if is_best:  # the model first: a crash before the round record retrains the same round on resume
            self._save_model(model, entry)
        ctx.store.save_round(r, entry | {"analysis": analysis})
        self.models[r] = model
        best = self._best()
        ctx.ui.line(
            f"round {r}: val macro-F1 {m['macro_f1']:.3f}, acc {m['accuracy']:.3f} | train "
            f"{entry['n_train']} (+{entry['added']}, -{entry['dropped']}) | {entry['tokens']:,} tokens | "
            f"{entry['seconds']:.0f} s | best {best['macro_f1']:.3f} (round {best['round']})"
        )

    def _save_model(self, model: Any, entry: dict[str, Any]) -> None:
        if not hasattr(model, "save"):
            return
        target, tmp = self.ctx.run_dir / "model", self.ctx.run_dir / "model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        metrics = {
            "val_accuracy": entry["accuracy"],
            "val_macro_f1": entry["macro_f1"],
            "round": entry["round"],
        }
        model.save(tmp, metrics=metrics, extra={"round": entry["round"], "task": self.ctx.task.description})
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)

    # -- the end -------------------------------------------------------------------------------------------
    def _finish(self, stopped: str) -> RunResult:
        ctx = self.ctx
        best = self._best()
        predictor = self.models.get(best["round"])
        if predictor is None:
            from ..classifiers import load

            predictor = load(ctx.run_dir / "model")
        history = [{k: v for k, v in h.items() if k != "analysis"} for h in ctx.store.rounds()]
        with (ctx.run_dir / "rounds.jsonl").open("w", encoding="utf-8") as fh:
            for h in history:
                fh.write(json.dumps(h, ensure_ascii=False) + "\n")
        ctx.store.set_meta("stopped", stopped)
        ledger = ctx.llm.ledger.summary()
        try:
            from ..reports.render import write_report  # reports read the store; they never import loop

            write_report(ctx.run_dir)
        except ImportError as exc:
            ctx.warn(f'No report written: {exc}. Install it with: pip install "tutorloop[report]"')
        ctx.ui.line(
            f"stopped: {stopped}. Best round {best['round']} (val macro-F1 {best['macro_f1']:.3f}); "
            f"model in {ctx.run_dir / 'model'}; report in {ctx.run_dir / 'report.html'}"
        )
        return RunResult(predictor, history, best["round"], ctx.run_dir, ledger, stopped, list(ctx.warnings))
