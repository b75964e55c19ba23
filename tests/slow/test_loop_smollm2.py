"""One small end-to-end run with a REAL local LLM (the packaged SmolLM2-135M): the loop completes and
leaves a trained artifact and a report. Quality is not the point (135M parameters); plumbing is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutorloop.classifiers import load
from tutorloop.loop import LabelSpec, LoopConfig, Task, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment.yaml"
SEEDS = {
    "positive": ["A joy from start to finish."],
    "negative": ["Two hours of my life I will never get back."],
}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_small_llm_run_completes(tmp_path: Path) -> None:
    from tutorloop.llm import get_llm

    llm = get_llm("local:smollm2", threads=2, cache=False)
    try:
        cfg = LoopConfig(
            examples_per_label=2,
            val_per_label=1,
            examples_per_call=2,
            topics_per_label=3,
            max_rounds=1,
            patience=1,
            targeted_per_round=2,
            max_actions_per_round=1,
        )
        example = Task.from_yaml(EXAMPLE)  # one seed per label: a 135M model may write nothing usable
        task = Task(
            example.description,
            [LabelSpec(lab.name, lab.description, SEEDS[lab.name]) for lab in example.labels],
        )
        result = run(task, llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r", progress=False)
    finally:
        llm.close()
    d = result.run_dir
    assert (d / "report.html").is_file() and (d / "report.md").is_file()
    model = load(d / "model")
    assert set(model.predict(["A wonderful, moving film.", "Dull and far too long."])) <= {
        "positive",
        "negative",
    }
    assert result.history and result.history[0]["n_train"] >= 2 and result.ledger["calls"] > 0
    lines = (d / "ledger.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["backend"] == "local"
