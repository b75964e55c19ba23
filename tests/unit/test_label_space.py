"""Label shortlists in prompts (loop/label_space.py): with many labels, every prompt lists a few."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_loop_support import fake_llm, schema_title

from tutorloop.data.store import Store
from tutorloop.errors import BudgetError
from tutorloop.llm import FakeLLM
from tutorloop.loop import LoopConfig, Task, run
from tutorloop.loop.label_space import LabelSpace, build_label_space
from tutorloop.types import LLMRequest

N = 30
NAMES = [f"topic {chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(N)]
CUES = {name: (f"cue{i}x", f"sign{i}y", f"mark{i}z") for i, name in enumerate(NAMES)}


def listed(req: LLMRequest) -> list[str]:
    """The label names a prompt's label list shows (lines ``- "name"...``)."""
    system = req.messages[0].content
    return [json.loads(m) for m in re.findall(r'^- ("[^"]*")', system, flags=re.MULTILINE)]


def offered(req: LLMRequest) -> set[str]:
    return set(req.json_schema["properties"]["labels"]["items"]["enum"])  # type: ignore[index]


def test_a_label_and_its_nearest_labels_in_task_order() -> None:
    anchors = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0.2, 1.0]])
    space = LabelSpace(["a", "b", "c", "d"], ["a", "b", "c", "d"], anchors, lambda t: anchors[:1], 2)
    assert space.near_label("b") == ["a", "b"]
    assert space.near_label("d") == ["c", "d"]
    assert space.near_labels(["a", "d"]) == ["a", "b", "c", "d"]
    assert space.near_texts(["x"]) == ["a", "b"]  # the text embeds like "a"
    assert space.near_texts(["x"], include={"d"}) == ["a", "b", "d"]


def test_character_ngrams_find_neighbours_without_an_encoder() -> None:
    names = ["card arrival", "card delivery estimate", "exchange rate", "exchange charge", "top up failed"]
    space = build_label_space(names, names, 2)
    assert space.near_label("exchange rate") == ["exchange rate", "exchange charge"]
    assert "card arrival" in space.near_texts(["when will my card arrive"])


def test_many_labels_every_prompt_lists_a_shortlist_and_verification_offers_the_intended_label(
    tmp_path: Path,
) -> None:
    llm, curator = fake_llm(NAMES, keywords=CUES)
    task = Task.from_labels("Route support messages by topic", NAMES)
    cfg = LoopConfig(label_shortlist=4, max_rounds=1, patience=1, agent="llm", examples_per_label=4)
    llm.plans_tool_calls = True
    run(task, llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r")
    kinds: dict[str, int] = {}
    for req in curator.seen:
        title = schema_title(req)
        kinds[title] = kinds.get(title, 0) + 1
        shown = listed(req)
        if title == "TopicsReply" or title.startswith("Texts"):
            label = re.search(r'label "(.+?)"', req.messages[-1].content).group(1)  # type: ignore[union-attr]
            assert label in shown and len(shown) == 4, (title, shown)
        elif title.startswith("Labels"):
            assert 2 <= len(shown) <= 5 and offered(req) == set(shown), shown
        elif title == "AgentPlan":
            assert 0 < len(shown) < N, shown
    assert kinds.get("TopicsReply") == N and kinds.get("AgentPlan") == 1, kinds
    assert sum(v for k, v in kinds.items() if k.startswith("Labels")) > 0
    store = Store(tmp_path / "r" / "store.sqlite")
    # the curator writes each text with its label's cue: offered its label, verification agrees every time
    disputed = [e for e in store.examples(status="dropped") if (e["reason"] or "").startswith("blind")]
    assert disputed == [] and len(store.examples(split="train")) >= N * 4


def test_without_a_shortlist_prompts_list_every_label(tmp_path: Path) -> None:
    llm, curator = fake_llm(NAMES, keywords=CUES)
    task = Task.from_labels("Route support messages by topic", NAMES)
    cfg = LoopConfig(label_shortlist=0, max_rounds=0)
    run(task, llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r")
    assert curator.seen and all(len(listed(req)) == N for req in curator.seen)


@pytest.mark.parametrize("n_labels", [1000])
def test_a_thousand_labels_fit_a_small_context(tmp_path: Path, n_labels: int) -> None:
    """With the default shortlist, no prompt of a 1,000-label run comes near a 4,096-token context (the
    run stops on its token budget after a few hundred calls)."""
    names = [f"category {i}" for i in range(n_labels)]
    seen: list[LLMRequest] = []

    def respond(req: LLMRequest) -> object:
        seen.append(req)
        return {"topics": ["a case", "another case", "a third case"]}

    llm = FakeLLM(responder=respond)
    cfg = LoopConfig(max_rounds=0, token_budget=20_000)
    task = Task.from_labels("Classify products", names)
    with pytest.raises(BudgetError, match=r"'category 9'\] and 990 more, validation"):
        run(task, llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r")
    assert seen
    longest = max(len("\n".join(m.content for m in r.messages)) for r in seen)
    assert longest < 2_000, longest  # all 1,000 names are about 17,000 characters
