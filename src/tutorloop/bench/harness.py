"""The benchmark harness: every (data set, seed, method) cell, scored on one shared evaluation set, resumable.

For each data set and seed, a seeded k-shot split draws ``k`` real examples per class (the few-shot pool);
every method is scored on the same remainder. Each finished cell is saved at once as
``OUT/cells/<data set>/seed<seed>/<method>.json``; re-running with the same ``out`` skips it. At the end
``results.json``, ``results.md`` and ``accuracy_vs_tokens.png`` are written from all finished cells.

>>> import json, pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> (d / "toy").mkdir()
>>> _ = (d / "toy" / "labels.json").write_text(json.dumps(["neg", "pos"]))
>>> rows = [{"text": f"{w} film {i}", "label": lab} for i in range(6)
...         for w, lab in (("awful", "neg"), ("great", "pos"))]
>>> _ = (d / "toy" / "test.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
>>> res = run_bench([str(d / "toy")], methods=["few-shot-tfidf"], seeds=1, out=d / "out",
...                 settings=BenchSettings(k=2), progress=False, plot=False)
>>> [(c["method"], c["n_eval"]) for c in res["cells"]]
[('few-shot-tfidf', 8)]
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data.io import atomic_write_text
from ..data.lock import RunLock
from ..errors import ConfigError, TutorloopError
from .datasets import BenchDataset, check_k, kshot_split, load_dataset
from .registry import BenchSettings, Cell, Method, MethodOutput, resolve_methods
from .report import utc_iso
from .tasks import TaskSpec, load_tasks

DEFAULT_METHODS = ("tutorloop", "single-pass", "zero-shot-sim", "zero-shot-llm", "few-shot-setfit")
FORMAT_VERSION = 1


def run_bench(
    data: Sequence[str | BenchDataset],
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: int | Sequence[int] = 3,
    out: str | Path = "bench-results",
    settings: BenchSettings | None = None,
    llm: Any = None,
    llm_factory: Callable[[], Any] | None = None,
    encoder: Any = None,
    tasks: str | Path | dict[str, TaskSpec] | None = None,
    command: str | None = None,
    progress: bool = True,
    plot: bool = True,
    report_only: bool = False,
) -> dict[str, Any]:
    """Run the grid and write results; returns the results dict (also saved as ``out/results.json``).

    ``data``: folders / hub names (or loaded :class:`BenchDataset` objects). ``seeds``: a count (0..N-1) or
    explicit seeds. ``llm`` or ``llm_factory`` (called once, when the first method needing an LLM runs);
    ``encoder``: an object with ``encode(texts)`` to use instead of the default sentence encoder.
    ``tasks``: the tasks file (or parsed specs). All data and settings are checked before any LLM call.
    ``report_only``: run no cell; only rewrite the outputs from the cells already finished in ``out``.
    """
    settings = settings or BenchSettings()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ConfigError("seeds must be at least 1 (or a non-empty list of seeds).")
    chosen = resolve_methods(list(methods))
    datasets = [d if isinstance(d, BenchDataset) else load_dataset(d) for d in data]
    _check_names(datasets)
    specs = tasks if isinstance(tasks, dict) else load_tasks(tasks)
    _check_grid(datasets, chosen, settings)
    out = Path(out)
    grid = [(ds, seed, m) for ds in datasets for seed in seed_list for m in chosen]
    fingerprints = {(ds.name, seed, m.name): _fingerprint(ds, seed, m, settings) for ds, seed, m in grid}
    _check_existing(out, fingerprints)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)  # a second bench on the same --out is refused at once; cells are not shared
    try:
        get_llm = _once(llm_factory if llm is None else (lambda: llm))
        get_encoder = _once(lambda: encoder) if encoder is not None else None
        started = time.time()
        failures: list[dict[str, Any]] = []
        with _Progress(len(grid), enabled=progress and not report_only) as bar:
            for ds, seed, method in [] if report_only else grid:
                path = _cell_path(out, ds.name, seed, method.name)
                if path.exists():
                    bar.advance(f"{ds.name} · seed {seed} · {method.name}")
                    continue
                bar.describe(f"{ds.name} · seed {seed} · {method.name}")
                done = _finished(out, ds.name, seed)
                cell = Cell(
                    dataset=ds,
                    seed=seed,
                    method=method.name,
                    split=kshot_split(ds, settings.k, seed),
                    task=specs.get(ds.name) or TaskSpec.default(ds.name),
                    settings=settings,
                    run_dir=out / "runs" / ds.name / f"seed{seed}" / method.name,
                    done=done,
                    llm_factory=get_llm if get_llm is not None and method.needs_llm else None,
                    encoder_factory=get_encoder,
                    progress=bar.plain,
                )
                record = _run_cell(cell, method, fingerprints[(ds.name, seed, method.name)], path)
                if record["status"] == "ok":
                    _write_json(path, record)
                    path.with_suffix(".partial.json").unlink(missing_ok=True)
                    outcome = f"macro-F1 {100 * record['macro_f1']:.1f}"
                else:
                    failures.append(record)
                    outcome = f"failed ({record['error'][:120]})"
                bar.advance(f"{ds.name} · seed {seed} · {method.name}", outcome)
        results = collect(
            out,
            datasets,
            seed_list,
            chosen,
            settings,
            get_llm=get_llm,
            command=command,
            started=started,
            failures=failures,
            report_only=report_only,
        )
        write_outputs(out, results, plot=plot)
        return results
    finally:
        lock.release()


def code_version() -> str:
    """The tutorloop version, with the source checkout's git commit (``.dirty`` when ``src`` has uncommitted
    changes) when it runs from one: a grid resumed across versions says which cell ran which code."""
    import subprocess

    from .. import __version__

    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file() or not (root / "src" / "tutorloop").is_dir():
        return __version__  # an installed copy, not a source checkout
    git = ["git", "-C", str(root)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    if not commit:
        return __version__
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}"


def _run_cell(cell: Cell, method: Method, fingerprint: str, path: Path) -> dict[str, Any]:
    """Run one method on one cell, score it and return the record (``status`` ok or error).

    Time spent in earlier, interrupted attempts (kept in ``<cell>.partial.json``) is added to ``wall_s``,
    since a resumed loop builds on their work.
    """
    base = {
        "format": FORMAT_VERSION,
        "dataset": cell.dataset.name,
        "seed": cell.seed,
        "method": method.name,
        "fingerprint": fingerprint,
        "k": cell.split.k,
        "n_eval_set": len(cell.split.eval_idx),
    }
    partial = path.with_suffix(".partial.json")
    before = _read_partial(partial, fingerprint)
    start = time.perf_counter()
    try:
        output = method.fn(cell)
    except TutorloopError as exc:
        _write_json(partial, {"fingerprint": fingerprint, "wall_s": before + time.perf_counter() - start})
        return {
            **base,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
            "wall_s": round(time.perf_counter() - start, 2),
        }
    except BaseException:  # Ctrl-C and crashes: keep the time spent for the resumed attempt's wall_s
        _write_json(partial, {"fingerprint": fingerprint, "wall_s": before + time.perf_counter() - start})
        raise
    wall = before + time.perf_counter() - start
    record = {
        **base,
        "status": "ok",
        "wall_s": round(wall, 3),
        "finished": utc_iso(),
        "code": code_version(),
        **score(cell, output),
    }
    if before:
        record["notes"].append(
            f"resumed after an interruption; wall time includes {before:,.0f} s of earlier attempts"
        )
    return record


def _read_partial(path: Path, fingerprint: str) -> float:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return 0.0
    return float(data.get("wall_s", 0.0)) if data.get("fingerprint") == fingerprint else 0.0


def score(cell: Cell, output: MethodOutput) -> dict[str, Any]:
    """Accuracy and macro-F1 of ``output`` against the cell's gold labels, plus its costs, as a record."""
    from ..evaluation.metrics import evaluate

    gold = cell.eval_gold
    positions = output.positions if output.positions is not None else list(range(len(gold)))
    if len(positions) != len(output.predictions):
        raise ValueError(
            f"Method '{cell.method}' returned {len(output.predictions)} predictions for "
            f"{len(positions)} positions."
        )
    metrics = evaluate([gold[p] for p in positions], output.predictions, cell.dataset.labels)
    index = {lab: i for i, lab in enumerate(cell.dataset.labels)}
    return {
        "n_eval": len(positions),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "llm_tokens": int(output.llm_tokens),
        "llm_calls": int(output.llm_calls),
        "throughput": output.throughput,
        "notes": list(output.notes),
        "extra": output.extra,
        "positions": None if output.positions is None else list(positions),
        "predictions": [index.get(p, -1) for p in output.predictions],
        "correct": "".join(
            "1" if gold[pos] == pred else "0" for pos, pred in zip(positions, output.predictions, strict=True)
        ),
    }


# -- validation, before any model is loaded ------------------------------------------------------------
def _check_names(datasets: list[BenchDataset]) -> None:
    names = [d.name for d in datasets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"Two data sets share the name(s) {dupes}; results are keyed by name, so give each "
            "--data a folder with a distinct name."
        )


def _check_grid(datasets: list[BenchDataset], methods: list[Method], settings: BenchSettings) -> None:
    if settings.llm_sample < 0:
        raise ConfigError(f"llm_sample must be >= 0 (0 = classify every text). Got {settings.llm_sample}.")
    if settings.throughput_texts < 1:
        raise ConfigError(f"throughput_texts must be >= 1. Got {settings.throughput_texts}.")
    if any(m.needs_fewshot for m in methods) and settings.k < 1:
        raise ConfigError("The few-shot methods need k >= 1 real examples per class; use --k 8 or drop them.")
    for ds in datasets:
        check_k(ds, settings.k)
    looped = settings.loop_params.get("encoder")
    if settings.encoder and looped and looped != settings.encoder:
        raise ConfigError(
            f"--encoder {settings.encoder} and --loop-param encoder={looped} disagree; give the encoder once "
            "(--encoder sets it for the loop too)."
        )
    if any("rounds" in m.uses for m in methods):
        from ..loop.config import (
            LoopConfig,  # fail early, before any LLM call, if the loop or a setting is bad
        )

        overrides: dict[str, Any] = dict(settings.loop_params)
        if settings.rounds is not None:
            overrides["max_rounds"] = settings.rounds
        if settings.examples_per_label is not None:
            overrides["examples_per_label"] = settings.examples_per_label
        LoopConfig.from_dict(overrides)


def _fingerprint(ds: BenchDataset, seed: int, method: Method, settings: BenchSettings) -> str:
    keys = method.uses + (("llm_spec",) if method.needs_llm else ())
    blob = json.dumps(
        {
            "data": ds.fingerprint,
            "seed": seed,
            "method": method.name,
            "k": settings.k,
            **settings.relevant(keys),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _check_existing(out: Path, fingerprints: dict[tuple[str, int, str], str]) -> None:
    stale = []
    for (name, seed, method), fp in fingerprints.items():
        path = _cell_path(out, name, seed, method)
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
            except (json.JSONDecodeError, UnicodeDecodeError):
                old = None
            if old != fp:
                stale.append(str(path))
    if stale:
        raise ConfigError(
            f"{len(stale)} finished cell(s) in '{out}' were produced with other data or "
            f"settings (e.g. {stale[0]}); results would mix. Use a new --out, or delete those "
            "files."
        )


# -- storage -------------------------------------------------------------------------------------------
def _cell_path(out: Path, dataset: str, seed: int, method: str) -> Path:
    return out / "cells" / dataset / f"seed{seed}" / f"{method}.json"


def _finished(out: Path, dataset: str, seed: int) -> dict[str, dict[str, Any]]:
    folder = out / "cells" / dataset / f"seed{seed}"
    done = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if not path.name.endswith(".partial.json"):
            done[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return done


def _write_json(path: Path, data: Any) -> None:
    """Write atomically (temp file + rename) so an interrupted run never leaves half a cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, default=str))


def _once(factory: Callable[[], Any] | None) -> Callable[[], Any] | None:
    if factory is None:
        return None
    box: list[Any] = []

    def get() -> Any:
        if not box:
            box.append(factory())
        return box[0]

    get.built = lambda: bool(box)  # type: ignore[attr-defined]
    return get


# -- results ------------------------------------------------------------------------------------------
def collect(
    out: Path,
    datasets: list[BenchDataset],
    seeds: list[int],
    methods: list[Method],
    settings: BenchSettings,
    *,
    get_llm: Callable[[], Any] | None = None,
    command: str | None = None,
    started: float | None = None,
    failures: list[dict[str, Any]] | None = None,
    report_only: bool = False,
) -> dict[str, Any]:
    """Gather the finished cells of this grid into the results dict (meta, cells, summary)."""
    from .report import environment, summarize

    cells, finished = [], []
    for ds in datasets:
        for seed in seeds:
            for m in methods:
                path = _cell_path(out, ds.name, seed, m.name)
                if path.exists():
                    cells.append(json.loads(path.read_text(encoding="utf-8")))
                    # cells written before "finished" was recorded: their file's modification time
                    finished.append(cells[-1].get("finished") or utc_iso(path.stat().st_mtime))
    llm_info: Any = settings.llm_spec if any(m.needs_llm for m in methods) else None
    if get_llm is not None and getattr(get_llm, "built", lambda: False)():
        llm = get_llm()
        llm_info = llm.describe() if hasattr(llm, "describe") else repr(llm)
    meta = {
        "command": command,
        **environment(),
        "settings": asdict(settings),
        "llm": llm_info,
        "seeds": seeds,
        "methods": [m.name for m in methods],
        "report_only": report_only,
        "cells_finished": [min(finished), max(finished)] if finished else None,
        "invocation_wall_s": round(time.time() - started, 1) if started and not report_only else None,
        "datasets": [
            {
                "name": d.name,
                "source": d.source,
                "n": len(d),
                "labels": len(d.labels),
                "fingerprint": d.fingerprint[:16],
            }
            for d in datasets
        ],
    }
    return {
        "format": FORMAT_VERSION,
        "meta": meta,
        "summary": summarize(cells),
        "cells": cells,
        "failures": [{k: v for k, v in f.items() if k != "traceback"} for f in failures or []],
    }


def write_outputs(out: Path, results: dict[str, Any], *, plot: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and (if ``plot``) ``accuracy_vs_tokens.png`` under ``out``."""
    from .report import render_markdown, render_plot

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md"}
    _write_json(paths["json"], results)
    atomic_write_text(paths["md"], render_markdown(results))
    if plot and results["summary"]:
        paths["plot"] = render_plot(results, out / "accuracy_vs_tokens.png")
    return paths


class _Progress:
    """Progress over the whole grid: a rich bar on a terminal; otherwise (a log file, CI, a pipe) one plain
    line when a cell starts and one when it ends, with its time. Nothing when disabled.

    ``plain`` tells the harness that output goes to a log, so loop cells may print their own phase lines
    (on a terminal they would fight the grid's bar)."""

    def __init__(self, total: int, *, enabled: bool):
        self.total, self.enabled = total, enabled
        self._progress: Any = None
        self._console: Any = None
        self._done = 0
        self._started = 0.0
        self.plain = False

    def __enter__(self) -> _Progress:
        if not self.enabled:
            return self
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            self._console, self.plain = console, True
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]bench[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def _line(self, text: str) -> None:
        from rich.text import Text

        self._console.print(Text(f"bench {self._done + 1}/{self.total}: {text}"), highlight=False)

    def describe(self, text: str) -> None:
        """A cell starts."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)
        elif self._console is not None:
            self._started = time.perf_counter()
            self._line(f"{text} ...")

    def advance(self, text: str, outcome: str = "") -> None:
        """A cell ends (``outcome``: a short result, e.g. its macro-F1; "" for a cell already done)."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=text)
        elif self._console is not None:
            if outcome:
                self._line(f"{text}: {outcome} in {time.perf_counter() - self._started:,.0f} s")
            else:
                self._line(f"{text}: already done")
        self._done += 1

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
