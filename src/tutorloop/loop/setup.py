"""Opening a run: a new run folder, or an existing one to resume, and the context its phases share.

:func:`open_run` is the one place that decides what a run is made of (task, settings, classifier, LLM
spec), from the arguments and, when resuming, from the folder's ``config.json`` and ``task.yaml``; the
CLI, :func:`~tutorloop.loop.run` and the benchmark all go through it. :func:`open_context` then opens the
store and gives the run its own ledger (``ledger.jsonl``), without changing the caller's LLM object.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..classifiers.registry import uses_encoder
from ..config import check_writable
from ..data.dedup import Deduper
from ..data.io import atomic_write_text
from ..data.lock import RunLock
from ..data.store import Store
from ..errors import ConfigError
from ..llm.base import LLM
from ..llm.ledger import Ledger
from .config import LoopConfig
from .context import UI, Budget, Context
from .pool import load_student, open_pool
from .task import Task
from .train import recover_model
from .userdata import check_user_files, read_unlabelled


@dataclass(frozen=True)
class RunSetup:
    """What a run is made of, as :func:`open_run` resolved (and saved) it."""

    run_dir: Path
    task: Task
    config: LoopConfig
    classifier: Any
    llm_spec: str | None
    resumed: bool
    lock: RunLock | None = dataclasses.field(default=None, compare=False, repr=False)
    base_url: str | None = None

    def release(self) -> None:
        """Release the run folder's lock (the run's process may open it again)."""
        if self.lock is not None:
            self.lock.release()


def open_run(
    out: str | Path | None = None,
    task: Task | str | Path | None = None,
    *,
    config: LoopConfig | None = None,
    overrides: dict[str, Any] | None = None,
    classifier: Any = None,
    llm_spec: str | None = None,
    default_llm_spec: str | None = None,
    resume: bool | None = False,
    base_url: str | None = None,
) -> RunSetup:
    """Check and save a run's setup in its folder (``task.yaml``, ``config.json``) and return it.

    ``out`` defaults to ``runs/run-<time>``. ``resume=True`` continues the run in ``out``: what is not
    given comes from the folder (task, settings, classifier, LLM spec); ``resume=None`` resumes when
    ``out`` holds a run and starts one otherwise. A new run needs a ``task`` and refuses a folder that
    holds a run. ``overrides`` replace single settings of ``config`` (or of the saved or default one);
    ``default_llm_spec`` is recorded when neither the arguments nor the folder name an LLM.
    ``base_url`` (the ``openai`` backend's server) is saved too, so a resume talks to the same server;
    a different one given on resume is used, with a warning. API keys are never saved.
    """
    run_dir = Path(out) if out is not None else Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    saved = _read_config(run_dir / "config.json")
    if resume is None:
        resume = saved is not None
    if resume:
        if saved is None:
            raise ConfigError(f"{run_dir} is not a tutorloop run folder (no config.json); nothing to resume.")
        if task is None:
            task = Task.from_yaml(run_dir / "task.yaml")
        config = config or LoopConfig.from_dict(saved["config"])
        classifier = classifier or saved.get("classifier") or "embed"
        base_url = _resumed_base_url(base_url, saved, llm_spec)
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
    llm_spec = llm_spec or default_llm_spec
    if isinstance(task, str | Path):
        task = Task.from_yaml(task)
    if not isinstance(config, LoopConfig):
        raise ConfigError(f"config must be a LoopConfig. Got {type(config).__name__} instead.")
    if overrides:
        config = dataclasses.replace(config, **overrides)
    config = _with_encoder(config, classifier)
    if resume and saved is not None:
        _check_same_encoder(saved["config"].get("encoder"), config.encoder, run_dir)
    if config.encoder:  # loaded once, so that a bad name fails before any LLM call
        from ..classifiers.encoder import get_encoder

        get_encoder(config.encoder)
    if not resume:  # a bad dev or unlabelled file fails before the folder is touched (a resume re-reads)
        check_user_files(task)
    _check_writable(run_dir, bool(resume))  # before any LLM call: a read-only folder fails at once
    lock = RunLock(run_dir)  # before any file is written: a second process must not touch the folder
    recover_model(run_dir)
    task.to_yaml(run_dir / "task.yaml")
    kind = classifier if isinstance(classifier, str) else type(classifier).__name__
    atomic_write_text(
        run_dir / "config.json",
        json.dumps(
            {
                # resolved: a resumed run keeps the batch sizes and counts it started with (its job
                # keys depend on them) even when a later version changes the defaults
                "config": config.resolved(len(task.labels), has_real_validation(task)).to_dict(),
                "classifier": kind,
                "llm_spec": llm_spec,
                "base_url": _savable_url(base_url),
                "classifier_params": {} if isinstance(classifier, str) else _params(classifier),
            },
            indent=2,
        ),
    )
    return RunSetup(run_dir, task, config, classifier, llm_spec, bool(resume), lock, base_url)


def open_context(setup: RunSetup, llm: LLM, *, progress: bool = True) -> Context:
    """Open the run's store and ledger and build the context its phases share (close ``ctx.store``)."""
    run_dir, task = setup.run_dir, setup.task
    ledger = Ledger(run_dir / "ledger.jsonl", cost_per_1k=getattr(llm.ledger, "cost_per_1k", (0.0, 0.0)))
    cfg = setup.config.resolved(len(task.labels), has_real_validation(task))
    store = Store(run_dir / "store.sqlite")
    for name, desc in store.get_meta("descriptions", {}).items():
        task = task.with_description(name, desc)
    ctx = Context(
        task,
        cfg,
        llm.recording_to(ledger),
        store,
        Deduper(cfg.dedup_threshold, _encoder(cfg, setup.classifier)),
        Budget(ledger, cfg.token_budget, cfg.time_budget_s, spent_before=store.elapsed_before()),
        UI(progress),
        run_dir,
    )
    store.count_time(ctx.budget.elapsed)  # so the time budget survives a resume
    ctx.warnings = list(store.get_meta("warnings", []))
    if setup.config.max_rounds is None and not has_real_validation(task):
        ctx.ui.line(
            f"single pass: {cfg.examples_per_label} examples per label in round 0 and no refinement rounds, "
            "as the run has no real texts to validate refinement on (add unlabelled texts or a dev set "
            "to the task, or choose rounds with --rounds)"
        )
    ctx.dedup.seed([e["text"] for e in store.examples(status=None)])
    if task.unlabelled is not None:
        ctx.unlabelled = read_unlabelled(ctx)
        ctx.pool = open_pool(ctx)
        rounds = store.rounds()
        if ctx.pool is not None and rounds:  # the student of the last round, as an unbroken run has it
            ctx.pool.student_proba = load_student(run_dir, rounds[-1]["round"], len(ctx.unlabelled))
    return ctx


def has_real_validation(task: Task) -> bool:
    """Whether the run can validate on real texts: the user's unlabelled texts or a dev set."""
    return task.unlabelled is not None or task.dev is not None


def _with_encoder(config: LoopConfig, classifier: Any) -> LoopConfig:
    """``config`` with the run's sentence encoder settled. An estimator given with its own ``encoder``
    sets the run's (the prior and the student must share one embedding space); a different
    ``config.encoder`` beside it is an error."""
    own = None if isinstance(classifier, str) else _params(classifier).get("encoder")
    if own and config.encoder and own != config.encoder:
        raise ConfigError(
            f"The classifier uses encoder {own!r} but the run's encoder setting is {config.encoder!r}. "
            "The label prior and the student must share one encoder: give one of them, or the same name "
            "to both."
        )
    if own and not config.encoder:
        config = dataclasses.replace(config, encoder=own)
    return config


def _check_same_encoder(saved: str | None, given: str | None, run_dir: Path) -> None:
    """Refuse to resume a run in another sentence encoder than it started with: the pool texts it chose,
    its label prior and its students live in the first encoder's space, and mixing two would make the
    rounds incomparable (and the report name one encoder for work done in two)."""
    from ..classifiers.encoder import DEFAULT_ENCODER

    def bare(name: str | None) -> str:
        return (name or DEFAULT_ENCODER).removeprefix("sentence-transformers/")

    if bare(saved) != bare(given):
        raise ConfigError(
            f"{run_dir} was started with encoder {bare(saved)!r}; it cannot go on with {bare(given)!r}, as "
            "its chosen texts, label prior and students are in the first encoder's space. Resume it without "
            f"--encoder (or with --encoder {bare(saved)}), or start a new run in another --out folder."
        )


def _params(estimator: Any) -> dict[str, Any]:
    try:
        return {
            k: v for k, v in estimator.get_params().items() if isinstance(v, str | int | float | bool | None)
        }
    except Exception:  # noqa: BLE001 - only informative
        return {}


def _check_writable(run_dir: Path, resume: bool) -> None:
    fix = (
        "Make it writable, or copy the folder somewhere writable and resume there."
        if resume
        else "Make it writable, or choose another --out folder."
    )
    check_writable(run_dir, "run folder", fix)
    for name in ("store.sqlite", "store.sqlite-wal", "ledger.jsonl"):  # changed in place, not replaced
        path = run_dir / name
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigError(f"Cannot write to {path} (no write permission). {fix}")


def _resumed_base_url(given: str | None, saved_config: dict[str, Any], llm_spec: str | None) -> str | None:
    """The server a resumed run talks to: the one given now, else the saved one, unless ``llm_spec``
    names another backend now."""
    saved = saved_config.get("base_url")
    backend = str(saved_config.get("llm_spec") or "").partition(":")[0]
    if llm_spec and llm_spec.partition(":")[0] != backend:
        saved = None
    if given and saved and given.rstrip("/") != saved.rstrip("/"):
        from ..llm.openai_compat import redact_url

        warnings.warn(
            f"This run used --base-url {saved}; it now goes on with {redact_url(given)}. Replies already "
            "stored are kept; new requests go to the new server.",
            stacklevel=3,
        )
    return given or saved


def _savable_url(url: str | None) -> str | None:
    """``url`` to keep in config.json, or None when it carries credentials (``user:pass@``, a query)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        warnings.warn(
            "The --base-url has credentials in it (user:password@ or a query), so it is not saved in "
            "config.json: give it again with --resume.",
            stacklevel=3,
        )
        return None
    return url


def _read_config(path: Path) -> dict[str, Any] | None:
    """The saved ``config.json`` (None when there is none); a damaged one is a :class:`ConfigError`."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"is not valid JSON ({exc})"
    else:
        if isinstance(saved, dict) and isinstance(saved.get("config"), dict):
            return saved
        problem = 'is not a run\'s settings (no "config" object)'
    raise ConfigError(
        f"{path} {problem}. It holds the run's settings: restore it from a backup, or rewrite it as "
        '{"config": {LoopConfig settings}, "classifier": "...", "llm_spec": "..."} with the settings '
        "the run started with, then resume."
    )


def _encoder(cfg: LoopConfig, classifier: Any) -> Any:
    want = cfg.dedup_method == "embed" or (
        cfg.dedup_method == "auto" and isinstance(classifier, str) and uses_encoder(classifier)
    )
    if not want:
        return None
    try:
        from ..classifiers.encoder import get_encoder

        return get_encoder(cfg.encoder).encode
    except Exception as exc:  # noqa: BLE001 - the MinHash fallback is always there
        if cfg.dedup_method == "embed":
            raise ConfigError(
                f"dedup_method='embed' needs the sentence encoder, which failed to load: {exc}"
            ) from exc
        return None
