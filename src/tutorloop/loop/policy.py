"""The deterministic policy: picks refinement actions from the metrics alone.

Used with small local models, which plan poorly: the LLM then only writes and judges examples.
Rules, in order: drop training examples the classifier finds implausible (the LLM judge confirms
before anything is dropped); top up labels left with few training examples (verification can drop most
of a label the LLM finds hard, and a label with no validation texts never shows up as weak);
contrastive pairs across the most frequent confusions; harder examples for
the weakest labels (lowest F1, then lowest mean probability of the true label). A validation set that is
already all correct does not stop the loop: synthetic validation sets are small and easy, so the policy
keeps adding harder examples for the least confident labels, and rounds are then compared on validation
log-loss (see ``evaluation.analysis.is_better``); patience ends the run. New texts are shared among
the actions.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from ..evaluation.analysis import Analysis
from ..prompts.schemas import ContrastAction, DropAction, GenerateAction, LabelPoolAction, StopAction
from .actions import Decision
from .config import LoopConfig

__all__ = ["Decision", "policy_plan"]


def policy_plan(analysis: Analysis, config: LoopConfig) -> tuple[str, list[Decision]]:
    """Diagnosis text and decisions for the next round, from one round's analysis.

    >>> a = {"metrics": {"macro_f1": 0.5}, "weak_labels": [{"label": "neg", "f1": 0.4}],
    ...      "confusions": [{"label": "neg", "predicted": "pos", "count": 3}], "implausible": []}
    >>> _, ds = policy_plan(a, LoopConfig().resolved(2))
    >>> [d.action.tool for d in ds]
    ['contrast']
    """
    decisions: list[Decision] = []
    suspects = [r for r in analysis.get("implausible", []) if r["p_label"] < 0.05][:5]
    if suspects:
        reason = (
            f"{len(suspects)} training example(s) get under 5% probability for their own label; "
            "the LLM judge re-checks them before any is dropped"
        )
        decisions.append(
            Decision(
                DropAction(
                    tool="drop",
                    example_ids=[r["id"] for r in suspects],
                    reason="implausible to the classifier",
                ),
                "policy",
                reason,
            )
        )
    slots = max(1, config.max_actions_per_round - len(decisions))
    gens: list[Decision] = []  # actions that write texts: they share the round's new texts
    covered: set[str] = set()
    for lab, have, median in _underrepresented(analysis)[: max(1, slots // 2)]:
        gens.append(
            Decision(
                GenerateAction(
                    tool="generate",
                    label=lab,
                    guidance="Clear, typical examples of this label, unlike the other labels.",
                ),
                "policy",
                f"{lab!r} has only {have} training example(s) (median per label: {median:g})",
            )
        )
        covered.add(lab)
    for pair in analysis["confusions"][: max(1, slots // 2)]:
        a, b = pair["label"], pair["predicted"]
        if a in covered or len(gens) >= slots:
            continue
        guidance = (
            f'Texts that resemble "{b}" on the surface (similar words or setting) but clearly belong '
            f'to "{a}"; make the deciding cue explicit.'
        )
        gens.append(
            Decision(
                ContrastAction(tool="contrast", label=a, confused_with=b, guidance=guidance),
                "policy",
                f"validation texts of {a!r} were predicted {b!r} {pair['count']} time(s)",
            )
        )
        covered.add(a)
    worst_confusion = {p["label"]: p["predicted"] for p in reversed(analysis["confusions"])}
    for w in analysis["weak_labels"]:
        if len(gens) >= slots:
            break
        if w["label"] in covered or w["f1"] >= 0.9:
            continue
        other = worst_confusion.get(w["label"])
        guidance = "Harder, less typical examples, different from the usual ones"
        guidance += f'; cases a classifier could mistake for "{other}".' if other else "."
        gens.append(
            Decision(
                GenerateAction(tool="generate", label=w["label"], guidance=guidance),
                "policy",
                f"{w['label']!r} has validation F1 {w['f1']:.2f}, among the weakest",
            )
        )
        covered.add(w["label"])
    if not gens:  # nothing clearly weak: harder examples for the least confident labels
        for w in analysis["weak_labels"][: min(3, slots)]:
            gens.append(
                Decision(
                    GenerateAction(
                        tool="generate",
                        label=w["label"],
                        guidance="Harder, subtle, less typical examples: indirect wording, mixed signals, "
                        "no obvious keywords, yet clearly this label to a careful reader.",
                    ),
                    "policy",
                    f"{w['label']!r} is among the least confident labels (F1 {w['f1']:.2f}, mean "
                    f"p(true) {w.get('confidence', 0.0):.2f})",
                )
            )
    per = max(2, min(64, (config.targeted_per_round or 16) // max(1, len(gens))))
    for d in gens:
        d.action = d.action.model_copy(update={"n": per})
    weak = ", ".join(f"{w['label']} (F1 {w['f1']:.2f})" for w in analysis["weak_labels"][:3])
    conf = ", ".join(f"{p['label']}→{p['predicted']} ×{p['count']}" for p in analysis["confusions"][:3])
    diagnosis = f"Weakest labels: {weak or 'none'}. Most frequent confusions: {conf or 'none'}."
    if suspects:
        diagnosis += f" {len(suspects)} training example(s) look mislabelled."
    return diagnosis, decisions + gens


def _underrepresented(analysis: Mapping[str, Any]) -> list[tuple[str, int, float]]:
    """Labels with fewer than half the median number of active training examples, fewest first.

    >>> _underrepresented({"metrics": {"labels": ["a", "b", "c"]}, "train_counts": {"a": 20, "b": 18}})
    [('c', 0, 18.0)]
    """
    counts = analysis.get("train_counts") or {}
    labels = list(analysis.get("metrics", {}).get("labels") or counts)
    if not counts or not labels:
        return []
    have = {lab: int(counts.get(lab, 0)) for lab in labels}
    median = float(statistics.median(have.values()))
    few = [(lab, n, median) for lab, n in have.items() if n < 0.5 * median]
    return sorted(few, key=lambda t: (t[1], t[0]))


def pool_plan(analysis: Analysis, config: LoopConfig, left: int | None = None) -> tuple[str, list[Decision]]:
    """The policy with unlabelled texts: the LLM labels the real texts where a label helps most (where the
    classifier and the label-anchor prior disagree, or the classifier is least sure) instead of writing
    synthetic ones, which a small LLM writes far worse than it labels.

    >>> a = {"metrics": {"macro_f1": 0.5}, "weak_labels": [], "confusions": [], "implausible": []}
    >>> [d.action.tool for d in pool_plan(a, LoopConfig().resolved(4))[1]]
    ['label_pool']
    >>> [d.action.tool for d in pool_plan(a, LoopConfig().resolved(4), left=0)[1]]
    ['stop']

    ``left``: unlabelled texts not labelled yet (None = unknown); with none left the policy stops.
    """
    if left is not None and left <= 0:
        reason = "every unlabelled text is already labelled or used"
        return reason, [Decision(StopAction(tool="stop", reason=reason), "policy", reason)]
    n = config.targeted_per_round or 16
    weak = ", ".join(f"{w['label']} (F1 {w['f1']:.2f})" for w in analysis["weak_labels"][:3])
    diagnosis = f"Weakest labels: {weak or 'none'}. The LLM labels {n} uncertain unlabelled texts."
    action = LabelPoolAction(tool="label_pool", n=n, reason="uncertain unlabelled texts")
    return diagnosis, [Decision(action, "policy", f"{n} texts where the classifier is least sure")]
