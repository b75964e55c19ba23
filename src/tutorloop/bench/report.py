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

_PACKAGES = ("tutorloop", "numpy", "scikit-learn", "torch", "sentence-transformers", "transformers", "setfit",
             "onnxruntime", "xllamacpp", "datasets", "pydantic")
LLM_METHOD = "zero-shot-llm"


def environment() -> dict[str, Any]:
    """Date, machine and library versions, for results.json."""
    versions = {}
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
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "arch": platform.machine(),
                        "processor": platform.processor() or None, "cpus": os.cpu_count(), "memory_gib": mem,
                        "python": platform.python_version()},
            "versions": versions}


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, method), in first-seen order: mean ± std over seeds and mean costs.

    ``acc_on_llm_sample`` is the method's accuracy on exactly the texts the zero-shot LLM classified (same
    data set and seed), so the LLM can be compared like for like when it only saw a sample.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        if c.get("status") == "ok":
            groups.setdefault((c["dataset"], c["method"]), []).append(c)
    llm_cells = {(c["dataset"], c["seed"]): c for c in cells
                 if c.get("method") == LLM_METHOD and c.get("status") == "ok"}
    rows = []
    for (name, method), group in groups.items():
        row: dict[str, Any] = {"dataset": name, "method": method, "seeds": len(group),
                               "n_eval": _mean([c["n_eval"] for c in group])}
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
    lines += [f"Date: {meta.get('date', '?')} · machine: {machine.get('platform', '?')}, "
              f"{machine.get('cpus', '?')} CPUs · LLM: {llm_text} · "
              f"classifier: {settings.get('classifier')} · "
              f"seeds: {len(meta.get('seeds', []))} · k = {settings.get('k')} real examples per class "
              "removed from every evaluation set (the few-shot pool)", ""]
    lines += ["Accuracy and macro-F1 in %, mean ± std over seeds. *acc. on LLM sample*: accuracy on exactly "
              "the texts the zero-shot LLM classified. LLM tokens: prompt + completion, per run (for the "
              "zero-shot LLM: for its sample only). Inference: texts per second in batches, of the saved "
              "artifact as `tutorloop.load` serves it for the loop methods, of the in-memory classifier for "
              "few-shot, of the encoder for zero-shot similarity, and of the LLM for zero-shot LLM.", ""]
    header = ["data set", "method", "accuracy", "macro-F1", "acc. on LLM sample", "LLM tokens", "wall time",
              "inference texts/s", "eval texts"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["dataset"], r["method"], _pm(r["accuracy_mean"], r["accuracy_std"]),
            _pm(r["macro_f1_mean"], r["macro_f1_std"]),
            "" if r.get("acc_on_llm_sample") is None else f"{100 * r['acc_on_llm_sample']:.1f}",
            f"{r['llm_tokens_mean']:,.0f}", _duration(r["wall_s_mean"]),
            "" if r.get("throughput_mean") is None else f"{r['throughput_mean']:,.1f}",
            f"{r['n_eval']:,.0f}"]) + " |")
    lines += _speedups(rows)
    notes = [f"- {r['dataset']} / {r['method']}: {n}" for r in rows for n in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", "", *notes]
    failures = results.get("failures") or []
    if failures:
        lines += ["", "Failed cells (re-run the same command to retry them):", ""]
        lines += [f"- {f['dataset']} seed {f['seed']} {f['method']}: {f.get('error')}" for f in failures]
    return "\n".join(lines) + "\n"


def _speedups(rows: list[dict[str, Any]]) -> list[str]:
    llm = {r["dataset"]: r.get("throughput_mean") for r in rows if r["method"] == LLM_METHOD}
    out = []
    for r in rows:
        base = llm.get(r["dataset"])
        if r["method"] != LLM_METHOD and base and r.get("throughput_mean"):
            out.append(f"- {r['dataset']} / {r['method']}: {r['throughput_mean'] / base:,.0f}× the zero-shot "
                       f"LLM's throughput ({r['throughput_mean']:,.0f} vs {base:,.2f} texts/s)")
    return ["", "Inference speed relative to the zero-shot LLM:", "", *out] if out else []


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


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
            ax.errorbar(r["llm_tokens_mean"], 100 * r["accuracy_mean"], yerr=100 * r["accuracy_std"],
                        fmt=markers[i % len(markers)], color=f"C{i}", capsize=3, label=r["method"])
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
    fig.legend([legend[lab] for lab in labels], labels, loc="lower center", ncol=min(len(labels), 6),
               frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
