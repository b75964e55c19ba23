"""Benchmark reporting: environment facts, the per-method summary, the Markdown table and the plot.

>>> cells = [{"dataset": "d", "method": "m", "seed": s, "status": "ok", "accuracy": a, "macro_f1": a,
...           "llm_tokens": 0, "wall_s": 1.0, "throughput": 100.0, "n_eval": 10, "notes": [],
...           "positions": None, "correct": "1" * 10} for s, a in ((0, 0.8), (1, 0.9))]
>>> row = summarize(cells)[0]
>>> round(row["accuracy_mean"], 2), round(row["accuracy_std"], 3)
(0.85, 0.071)
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import os
import platform
import statistics
from pathlib import Path
from typing import Any

_PACKAGES = (
    "tutorloop",
    "numpy",
    "scikit-learn",
    "torch",
    "sentence-transformers",
    "transformers",
    "setfit",
    "onnxruntime",
    "xllamacpp",
    "datasets",
    "pydantic",
)
LLM_METHOD = "zero-shot-llm"


def utc_iso(timestamp: float | None = None) -> str:
    """``timestamp`` (default: now) as an ISO-8601 UTC time to the second, as results.json records times."""
    when = dt.datetime.now(dt.UTC) if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return when.isoformat(timespec="seconds")


def environment() -> dict[str, Any]:
    """Date, machine and library versions, for results.json."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "date": utc_iso(),
        "machine": {
            "platform": platform.platform(),
            "arch": platform.machine(),
            "processor": platform.processor() or None,
            "cpus": os.cpu_count(),
            "memory_gib": mem,
            "python": platform.python_version(),
        },
        "versions": versions,
    }


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, method), in first-seen order: mean ± std over seeds and mean costs.

    ``acc_on_llm_sample`` is the method's accuracy on exactly the texts the zero-shot LLM classified (same
    data set and seed), so the LLM can be compared like for like when it only saw a sample.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        if c.get("status") == "ok":
            groups.setdefault((c["dataset"], c["method"]), []).append(c)
    llm_cells = {
        (c["dataset"], c["seed"]): c
        for c in cells
        if c.get("method") == LLM_METHOD and c.get("status") == "ok"
    }
    rows = []
    for (name, method), group in groups.items():
        row: dict[str, Any] = {
            "dataset": name,
            "method": method,
            "seeds": len(group),
            "n_eval": _mean([c["n_eval"] for c in group]),
        }
        for key in ("accuracy", "macro_f1"):
            values = [float(c[key]) for c in group]
            row[f"{key}_mean"] = _mean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["llm_tokens_mean"] = _mean([c.get("llm_tokens", 0) for c in group])
        row["wall_s_mean"] = _mean([c.get("wall_s", 0.0) for c in group])
        tputs = [c["throughput"] for c in group if c.get("throughput")]
        row["throughput_mean"] = _mean(tputs) if tputs else None
        on_sample = [a for c in group if (a := _acc_on(c, llm_cells.get((name, c["seed"])))) is not None]
        row["acc_on_llm_sample"] = _mean(on_sample) if on_sample else None
        row["notes"] = list(dict.fromkeys(n for c in group for n in c.get("notes", [])))
        rows.append(row)
    return rows


def _acc_on(cell: dict[str, Any], llm_cell: dict[str, Any] | None) -> float | None:
    if llm_cell is None or not cell.get("correct"):
        return None
    sample = llm_cell.get("positions")
    if sample is None or cell.get("positions") is not None:
        return None if cell["method"] != LLM_METHOD else float(llm_cell["accuracy"])
    correct = cell["correct"]
    if max(sample, default=-1) >= len(correct):
        return None
    return sum(correct[p] == "1" for p in sample) / len(sample) if sample else None


def _mean(values: list[float]) -> float:
    return float(statistics.fmean(values)) if values else 0.0


# -- Markdown ------------------------------------------------------------------------------------------
def render_markdown(results: dict[str, Any]) -> str:
    """The results table with its context (command, date, machine, LLM) and footnotes."""
    meta = results.get("meta", {})
    rows = results.get("summary", [])
    settings = meta.get("settings", {})
    machine = meta.get("machine", {})
    lines = ["# tutorloop benchmark", ""]
    if meta.get("command"):
        lines += [f"Command: `{meta['command']}`", ""]
    llm = meta.get("llm")
    llm_text = (f"{llm.get('backend')}:{llm.get('model')}" if isinstance(llm, dict) else llm) or "none"
    span = meta.get("cells_finished")
    if meta.get("report_only") and span:
        lines += [
            f"Rewritten from finished cells (`--report-only`); they finished between {span[0]} and "
            f"{span[1]}. The command without `--report-only`, into a new folder, reproduces them.",
            "",
        ]
    lines += [
        f"Date: {meta.get('date', '?')} · machine: {machine.get('platform', '?')}, "
        f"{machine.get('cpus', '?')} CPUs · LLM: {llm_text} · "
        f"classifier: {settings.get('classifier')} · "
        f"seeds: {len(meta.get('seeds', []))} · k = {settings.get('k')} real examples per class "
        "removed from every evaluation set (the few-shot pool)",
        "",
    ]
    lines += [
        "Accuracy and macro-F1 in %, mean ± std over seeds. *acc. on LLM sample*: accuracy on exactly "
        "the texts the zero-shot LLM classified. LLM tokens: prompt + completion, per run (for the "
        "zero-shot LLM: for its sample only). Inference: texts per second in batches, of the saved "
        "artifact as `tutorloop.load` serves it for the loop methods, of the in-memory classifier for "
        "few-shot, of the encoder for zero-shot similarity, and of the LLM for zero-shot LLM.",
        "",
    ]
    lines += summary_table(rows)
    lines += _speedups(rows)
    lines += goal_table(goals(rows))
    notes = [f"- {r['dataset']} / {r['method']}: {n}" for r in rows for n in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", "", *notes]
    failures = results.get("failures") or []
    if failures:
        lines += ["", "Failed cells (re-run the same command to retry them):", ""]
        lines += [f"- {f['dataset']} seed {f['seed']} {f['method']}: {f.get('error')}" for f in failures]
    return "\n".join(lines) + "\n"


def summary_table(rows: list[dict[str, Any]]) -> list[str]:
    """The per-(data set, method) Markdown table for the rows of :func:`summarize`."""
    header = [
        "data set",
        "method",
        "seeds",
        "accuracy",
        "macro-F1",
        "acc. on LLM sample",
        "LLM tokens",
        "wall time",
        "inference texts/s",
        "eval texts",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    r["dataset"],
                    r["method"],
                    str(r["seeds"]),
                    _pm(r["accuracy_mean"], r["accuracy_std"], r["seeds"]),
                    _pm(r["macro_f1_mean"], r["macro_f1_std"], r["seeds"]),
                    "" if r.get("acc_on_llm_sample") is None else f"{100 * r['acc_on_llm_sample']:.1f}",
                    f"{r['llm_tokens_mean']:,.0f}",
                    _duration(r["wall_s_mean"]),
                    "" if r.get("throughput_mean") is None else f"{r['throughput_mean']:,.1f}",
                    f"{r['n_eval']:,.0f}",
                ]
            )
            + " |"
        )
    return lines


def _speedups(rows: list[dict[str, Any]]) -> list[str]:
    llm = {r["dataset"]: r.get("throughput_mean") for r in rows if r["method"] == LLM_METHOD}
    out = []
    for r in rows:
        base = llm.get(r["dataset"])
        if r["method"] != LLM_METHOD and base and r.get("throughput_mean"):
            out.append(
                f"- {r['dataset']} / {r['method']}: {r['throughput_mean'] / base:,.0f}× the zero-shot "
                f"LLM's throughput ({r['throughput_mean']:,.0f} vs {base:,.2f} texts/s)"
            )
    return ["", "Inference speed relative to the zero-shot LLM:", "", *out] if out else []


def _pm(mean: float, std: float, seeds: int = 2) -> str:
    """``mean ± std`` in %; one seed has no spread, so only the value is shown."""
    return f"{100 * mean:.1f}" if seeds < 2 else f"{100 * mean:.1f} ± {100 * std:.1f}"


# -- goals ---------------------------------------------------------------------------------------------
SPEEDUP_GOAL = 1000.0


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check the benchmark's goals per data set, from the summary rows of :func:`summarize`.

    - ``tutorloop`` macro-F1 ≥ ``zero-shot-sim`` and ≥ ``single-pass`` (means over seeds);
    - ``tutorloop`` accuracy ≥ ``zero-shot-llm`` on exactly the texts the LLM classified (the student beats
      its teacher);
    - the tutorloop artifact's inference throughput ≥ 1,000× the zero-shot LLM's.

    A goal is skipped for a data set where either side was not run. ``gap`` is tutorloop's value minus the
    other's (a ratio for the speed-up).

    >>> rows = [{"dataset": "d", "method": "tutorloop", "seeds": 1, "macro_f1_mean": 0.7,
    ...          "acc_on_llm_sample": 0.8, "throughput_mean": 500.0},
    ...         {"dataset": "d", "method": "zero-shot-sim", "seeds": 1, "macro_f1_mean": 0.6},
    ...         {"dataset": "d", "method": "zero-shot-llm", "seeds": 1, "acc_on_llm_sample": 0.9,
    ...          "throughput_mean": 1.0}]
    >>> for g in goals(rows):
    ...     print(g["goal"], g["met"], round(g["gap"], 2))
    ≥ zero-shot-sim (macro-F1) True 0.1
    ≥ zero-shot-llm (acc. on LLM sample) False -0.1
    inference ≥ 1,000× zero-shot-llm False 500.0
    """
    by = {(r["dataset"], r["method"]): r for r in rows}
    checks = (
        ("≥ zero-shot-sim (macro-F1)", "zero-shot-sim", "macro_f1_mean"),
        ("≥ single-pass (macro-F1)", "single-pass", "macro_f1_mean"),
        (f"≥ {LLM_METHOD} (acc. on LLM sample)", LLM_METHOD, "acc_on_llm_sample"),
    )
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        ours = by.get((name, "tutorloop"))
        if ours is None:
            continue
        for goal, method, key in checks:
            other = by.get((name, method))
            if other is None or ours.get(key) is None or other.get(key) is None:
                continue
            gap = float(ours[key]) - float(other[key])
            out.append(
                {
                    "dataset": name,
                    "goal": goal,
                    "met": gap >= 0,
                    "ours": ours[key],
                    "other": other[key],
                    "gap": gap,
                    "seeds": (ours["seeds"], other["seeds"]),
                }
            )
        llm = by.get((name, LLM_METHOD))
        if llm and llm.get("throughput_mean") and ours.get("throughput_mean"):
            ratio = float(ours["throughput_mean"]) / float(llm["throughput_mean"])
            out.append(
                {
                    "dataset": name,
                    "goal": f"inference ≥ {SPEEDUP_GOAL:,.0f}× {LLM_METHOD}",
                    "met": ratio >= SPEEDUP_GOAL,
                    "ours": ours["throughput_mean"],
                    "other": llm["throughput_mean"],
                    "gap": ratio,
                    "seeds": (ours["seeds"], llm["seeds"]),
                }
            )
    return out


def goal_table(checks: list[dict[str, Any]]) -> list[str]:
    """Markdown lines for the checks of :func:`goals` (empty when there are none)."""
    if not checks:
        return []
    lines = [
        "",
        "Goals (tutorloop against each baseline; a gap is in percentage points, or the speed-up):",
        "",
        "| data set | goal | met | tutorloop | other | gap | seeds (ours, other) |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in checks:
        speed = g["goal"].startswith("inference")
        ours, other = (
            (f"{g['ours']:,.0f}/s", f"{g['other']:,.2f}/s")
            if speed
            else (f"{100 * g['ours']:.1f}", f"{100 * g['other']:.1f}")
        )
        gap = f"{g['gap']:,.0f}×" if speed else f"{100 * g['gap']:+.1f}"
        lines.append(
            f"| {g['dataset']} | {g['goal']} | {'yes' if g['met'] else 'no'} | {ours} | {other} | "
            f"{gap} | {g['seeds'][0]}, {g['seeds'][1]} |"
        )
    teacher = [g for g in checks if g["goal"].startswith(f"≥ {LLM_METHOD}")]
    if teacher:
        lines += [
            "",
            f"The student beats its teacher on {sum(g['met'] for g in teacher)} of {len(teacher)} "
            "data sets (goal: at least three of four).",
        ]
    return lines


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


# -- plot ----------------------------------------------------------------------------------------------
def render_plot(results: dict[str, Any], path: str | Path) -> Path:
    """Accuracy (mean ± std) against LLM tokens, one panel per data set, one marker per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.get("summary", [])
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    markers = "osD^v<>ph*"
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for r in (r for r in rows if r["dataset"] == name):
            i = methods.index(r["method"])
            ax.errorbar(
                r["llm_tokens_mean"],
                100 * r["accuracy_mean"],
                yerr=100 * r["accuracy_std"],
                fmt=markers[i % len(markers)],
                color=f"C{i}",
                capsize=3,
                label=r["method"],
            )
        ax.set_xscale("symlog", linthresh=100, linscale=0.5)
        top = max([r["llm_tokens_mean"] for r in rows] + [1000.0]) * 3
        ax.set_xlim(-30, top)
        ax.set_xticks([0] + [10.0**e for e in range(2, 9) if 10.0**e <= top])
        ax.set_ylim(0, 100)
        ax.set_title(name)
        ax.set_xlabel("LLM tokens (symlog)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    legend: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    labels = list(legend)
    fig.legend(
        [legend[lab] for lab in labels], labels, loc="lower center", ncol=min(len(labels), 6), frameon=False
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
