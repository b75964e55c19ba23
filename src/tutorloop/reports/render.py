"""The run report: ``report.md`` and a self-contained ``report.html`` (plots inlined as base64 PNG).

Built only from the run folder (store, ledger, config), so it can be regenerated at any time with
:func:`write_report`, also for an interrupted run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from ..data.io import atomic_write_text
from ..data.store import Store
from ..evaluation.analysis import best_round


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``run_dir``; returns their paths."""
    run_dir = Path(run_dir)
    store = Store(run_dir / "store.sqlite")
    try:
        data = _collect(run_dir, store)
    finally:
        store.close()
    plots = _plots(data)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    atomic_write_text(md_path, _markdown(data, {k: f"(plot: {k})" for k in plots}))
    atomic_write_text(html_path, _html(data, plots))
    return md_path, html_path


def _collect(run_dir: Path, store: Store) -> dict[str, Any]:
    import yaml

    task = (
        yaml.safe_load((run_dir / "task.yaml").read_text(encoding="utf-8"))
        if (run_dir / "task.yaml").exists()
        else {}
    )
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    ledger: dict[str, Any] = {
        "calls": 0,
        "cache_hits": 0,
        "total_tokens": 0,
        "llm_seconds": 0.0,
        "cost_usd": 0.0,
    }
    lp = run_dir / "ledger.jsonl"
    if lp.exists():
        for line in lp.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            ledger["calls"] += 1
            if e["cached"]:
                ledger["cache_hits"] += 1
                continue
            ledger["total_tokens"] += e["prompt_tokens"] + e["completion_tokens"]
            ledger["llm_seconds"] += e["latency_s"]
            ledger["cost_usd"] += e["cost_usd"]
    rounds = store.rounds()
    # the same rule the loop used to keep its best round
    best = best_round(rounds, config.get("config", {}).get("min_improvement", 0.001))
    return {
        "task": task,
        "config": config,
        "ledger": ledger,
        "rounds": rounds,
        "best": best,
        "examples": store.examples(status=None),
        "actions": store.actions(),
        "warnings": store.get_meta("warnings", []),
        "stopped": store.get_meta("stopped", ""),
        "anchors": store.job_result("anchors"),
    }


# -- plots --------------------------------------------------------------------------------------------------
def _plots(data: dict[str, Any]) -> dict[str, str]:
    """Base64 PNGs keyed by title; empty when matplotlib is missing or there is nothing to plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    rounds = data["rounds"]
    if not rounds:
        return {}
    out = {}
    xs = [h["round"] for h in rounds]

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(xs, [h["macro_f1"] for h in rounds], marker="o", label="macro-F1")
    ax.plot(xs, [h["accuracy"] for h in rounds], marker="s", label="accuracy")
    ax.set(xlabel="round", ylabel="validation score", ylim=(0, 1.02), xticks=xs)
    ax.legend()
    out["Validation score per round"] = _png(fig, plt)

    labels = list(rounds[-1]["per_class"])
    fig, ax = plt.subplots(figsize=(7, 3.6 if len(labels) <= 12 else max(4, len(labels) * 0.14)))
    if len(labels) <= 12:
        for lab in labels:
            ax.plot(xs, [h["per_class"].get(lab, 0) for h in rounds], marker=".", label=lab)
        ax.set(xlabel="round", ylabel="validation F1", ylim=(0, 1.02), xticks=xs)
        ax.legend(fontsize=7, ncol=2)
    else:
        grid = [[h["per_class"].get(lab, 0) for h in rounds] for lab in labels]
        im = ax.imshow(grid, aspect="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set(xlabel="round", xticks=range(len(xs)), xticklabels=xs, yticks=range(len(labels)))
        ax.set_yticklabels(labels, fontsize=5)
        fig.colorbar(im, ax=ax)
    out["Per-class F1 per round"] = _png(fig, plt)

    best = data["best"]
    cm = best["analysis"]["metrics"]["confusion"] if best and "analysis" in best else None
    if cm:
        names = best["analysis"]["metrics"]["labels"]
        size = min(12, 2.5 + 0.25 * len(names))
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(cm, cmap="Blues")
        ticks = range(len(names))
        ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true")
        fs = 8 if len(names) <= 12 else 4
        ax.set_xticklabels(names, rotation=90, fontsize=fs)
        ax.set_yticklabels(names, fontsize=fs)
        if len(names) <= 12:
            for i, row in enumerate(cm):
                for j, v in enumerate(row):
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title(f"Round {best['round']} (best), validation")
        out["Confusion matrix of the best round"] = _png(fig, plt)

    added: dict[str, Counter] = defaultdict(Counter)
    for e in data["examples"]:
        if e["split"] == "train" and (
            e["status"] == "active" or e["dropped_round"] not in (None, e["round"])
        ):
            added[e["origin"]][e["round"]] += 1
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bottom = [0] * len(xs)
    for origin, counts in sorted(added.items()):
        vals = [counts.get(x, 0) for x in xs]
        ax.bar(xs, vals, bottom=bottom, label=origin)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set(xlabel="round", ylabel="training examples added", xticks=xs)
    ax.legend()
    out["Examples added per round"] = _png(fig, plt)
    return out


def _png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- text --------------------------------------------------------------------------------------------------
def _sections(data: dict[str, Any]) -> list[tuple[str, list[str] | list[list[str]], str]]:
    """(title, rows, kind) blocks shared by the Markdown and HTML renderers; kind is 'p' or 'table'."""
    blocks: list[tuple[str, Any, str]] = []
    task, led, best = data["task"], data["ledger"], data["best"]
    summary = [
        f"Task: {task.get('task', '?')}",
        f"Classifier: {data['config'].get('classifier', '?')}; "
        + (f"encoder: {encoder}; " if (encoder := data["config"].get("config", {}).get("encoder")) else "")
        + f"LLM: {data['config'].get('llm_spec') or 'as given'}",
        f"Stopped: {data['stopped'] or 'unfinished'}",
    ]
    if best:
        summary.append(
            f"Best round: {best['round']} (validation macro-F1 {best['macro_f1']:.3f}, accuracy "
            f"{best['accuracy']:.3f}, {best['n_val']} validation texts)"
        )
        if best.get("trusted_accuracy") is not None:
            summary.append(
                f"Rounds were chosen by accuracy on the {best.get('n_trusted', '?')} trusted validation "
                "texts (the teacher's label agrees with the label prior), because a weak teacher's raw "
                f"labels favour students that copy its errors: {best['trusted_accuracy']:.3f} in the kept "
                "round."
            )
    summary.append(
        f"LLM: {led['calls']} calls ({led['cache_hits']} from cache), {led['total_tokens']:,} paid tokens, "
        f"{led['llm_seconds']:.0f} s in the LLM, ${led['cost_usd']:.4f}"
    )
    blocks.append(("Summary", summary, "p"))
    if data["warnings"]:
        blocks.append(("Warnings", list(data["warnings"]), "p"))
    anchors = data.get("anchors") or {}
    if anchors.get("descriptions"):
        agree = anchors.get("agreement", {})
        used = "the drafted descriptions" if anchors.get("use") == "drafted" else "the label names"
        lines = [
            f"The prior used {used} (agreement with the teacher's labels of "
            f"{anchors.get('validation_texts', '?')} validation texts: label names "
            f"{agree.get('task', 0):.1%}, drafted descriptions {agree.get('drafted', 0):.1%})."
        ]
        lines += [f"{name}: {text}" for name, text in anchors["descriptions"].items()]
        blocks.append(("Label descriptions drafted by the LLM", lines, "p"))
    rows = [
        [
            "round",
            "val acc",
            "val macro-F1",
            "trusted acc",
            "train",
            "added",
            "dropped",
            "tokens",
            "seconds",
            "decided by",
        ]
    ]
    for h in data["rounds"]:
        trusted = h.get("trusted_accuracy")
        rows.append(
            [
                str(h["round"]),
                f"{h['accuracy']:.3f}",
                f"{h['macro_f1']:.3f}",
                "-" if trusted is None else f"{trusted:.3f}",
                str(h["n_train"]),
                str(h["added"]),
                str(h["dropped"]),
                f"{h['tokens']:,}",
                f"{h['seconds']:.0f}",
                h["decided_by"],
            ]
        )
    blocks.append(("Rounds", rows, "table"))
    acts = [["round", "decided by", "tool", "arguments", "why", "status"]]
    for a in data["actions"]:
        args = {k: v for k, v in a["args"].items() if k != "tool"}
        acts.append(
            [
                str(a["round"]),
                a["decided_by"],
                a["tool"],
                json.dumps(args, ensure_ascii=False)[:200],
                (a["reason"] or "")[:200],
                a["status"],
            ]
        )
    if len(acts) > 1:
        blocks.append(("Actions", acts, "table"))
    diag = [f"Round {h['round']}: {h['diagnosis']}" for h in data["rounds"] if h.get("diagnosis")]
    if diag:
        blocks.append(("Diagnoses", diag, "p"))
    blocks.append(("Data", _data_rows(data), "table"))
    blocks.append(("Sample training examples", _samples(data), "table"))
    return blocks


def _data_rows(data: dict[str, Any]) -> list[list[str]]:
    stats: dict[str, Counter] = defaultdict(Counter)
    for e in data["examples"]:
        s = stats[e["label"]]
        s[f"{e['split']}_{e['status']}"] += 1
        if e["split"] == "train" and e["status"] == "active":
            s[e["origin"]] += 1
    rows = [["label", "train (active)", "curated", "targeted", "seed", "dropped", "validation"]]
    for lab, s in stats.items():
        rows.append(
            [
                lab,
                str(s["train_active"]),
                str(s["curated"]),
                str(s["targeted"]),
                str(s["seed"]),
                str(s["train_dropped"] + s["val_dropped"]),
                str(s["val_active"]),
            ]
        )
    return rows


def _samples(data: dict[str, Any]) -> list[list[str]]:
    rows = [["label", "origin", "round", "text", "attributes"]]
    per: Counter = Counter()
    for e in data["examples"]:
        if e["split"] != "train" or e["status"] != "active" or per[e["label"]] >= 3:
            continue
        per[e["label"]] += 1
        attrs = ", ".join(f"{k}={v}" for k, v in e["attributes"].items() if v not in (None, False, ""))
        rows.append([e["label"], e["origin"], str(e["round"]), e["text"][:240], attrs[:160]])
    return rows


def _markdown(data: dict[str, Any], plots: dict[str, str]) -> str:
    lines = [f"# tutorloop run report: {data['task'].get('task', '')}", ""]
    for title, rows, kind in _sections(data):
        lines += [f"## {title}", ""]
        if kind == "p":
            lines += [f"- {r}" for r in rows]
        else:
            cell = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
            lines += ["| " + " | ".join(cell[0]) + " |", "|" + "---|" * len(cell[0])]
            lines += ["| " + " | ".join(r) + " |" for r in cell[1:]]
        lines.append("")
    if plots:
        lines += ["## Plots", "", "See report.html for: " + ", ".join(plots) + ".", ""]
    return "\n".join(lines)


def _html(data: dict[str, Any], plots: dict[str, str]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tutorloop report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
        "td,th{border:1px solid #ccc;padding:3px 6px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}</style></head><body>",
        f"<h1>tutorloop run report</h1><p>{e(str(data['task'].get('task', '')))}</p>",
    ]
    sections = _sections(data)
    for title, rows, kind in sections[:3]:
        parts.append(_html_block(title, rows, kind))
    for title, b64 in plots.items():
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{b64}'>")
    for title, rows, kind in sections[3:]:
        parts.append(_html_block(title, rows, kind))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_block(title: str, rows: Any, kind: str) -> str:
    e = html.escape
    if kind == "p":
        return f"<h2>{e(title)}</h2><ul>" + "".join(f"<li>{e(str(r))}</li>" for r in rows) + "</ul>"
    head = "".join(f"<th>{e(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<h2>{e(title)}</h2><table><tr>{head}</tr>{body}</table>"
