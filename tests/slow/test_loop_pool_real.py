"""The unlabelled-pool setting end to end with REAL components: the packaged SmolLM2-135M as the teacher,
the packaged MiniLM encoder for the prior, and the embed student saved to ONNX. Plumbing, not quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorloop.classifiers import load
from tutorloop.data.store import Store
from tutorloop.loop import LoopConfig, Task, run

POOL = [
    "An absolute delight, I loved every minute.",
    "Wonderful acting and a moving story.",
    "One of the best films of the year.",
    "Charming, funny and beautifully shot.",
    "A brilliant, warm and clever film.",
    "Boring, far too long and badly acted.",
    "I hated it; the plot makes no sense.",
    "A dull, lifeless mess of a movie.",
    "Awful dialogue and a terrible ending.",
    "The worst film I have seen in years.",
    "The cast is great but the script is weak.",
    "It was fine, nothing special.",
    "A triumph: gripping, tender and funny.",
    "Gorgeous music and a wonderful cast.",
    "I smiled all the way through, lovely.",
    "A masterpiece of quiet, careful storytelling.",
    "Stunning visuals and a heartfelt ending.",
    "Tedious and predictable from the first scene.",
    "A waste of a talented cast.",
    "Clumsy, loud and completely forgettable.",
    "I walked out halfway through, it was that bad.",
    "Flat jokes and wooden acting throughout.",
    "Decent enough for a rainy afternoon.",
    "Some good scenes, some very slow ones.",
]  # large enough that teacher labels (also near thin labels) leave texts for the self-labels


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pool_run_with_real_llm_and_encoder(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the [embed] extra")
    from tutorloop.llm import get_llm

    pool = tmp_path / "reviews.txt"
    pool.write_text("\n".join(POOL) + "\n")
    task = Task.from_dict(
        {
            "task": "Classify the sentiment of a movie review.",
            # one seed per label: a 135M teacher may give every text the same label
            "labels": [
                {"name": "positive", "examples": ["A joy from start to finish."]},
                {"name": "negative", "examples": ["Two hours of my life I will never get back."]},
            ],
            "unlabelled": str(pool),
        }
    )
    cfg = LoopConfig(
        pool_per_label=2,
        val_per_label=2,
        max_rounds=1,
        patience=1,
        targeted_per_round=2,
        examples_per_label=2,
        examples_per_call=2,
        topics_per_label=3,
    )
    llm = get_llm("local:smollm2", threads=2, cache=False)
    try:
        result = run(task, llm=llm, classifier="embed", config=cfg, out=tmp_path / "r", progress=False)
    finally:
        llm.close()
    store = Store(result.run_dir / "store.sqlite")
    assert store.examples(origin="self")  # the prior labelled the pool's most confident texts
    teacher = [e for e in store.examples(split="train", status=None) if e["origin"] == "pool"]
    assert teacher and all(e["label"] in ("positive", "negative") for e in teacher)
    assert any(a["tool"] == "label_pool" for a in store.actions())
    model = load(result.run_dir / "model")
    assert set(model.predict(["A wonderful film.", "Dull and far too long."])) <= {"positive", "negative"}
