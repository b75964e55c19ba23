"""Shared helpers for the loop tests: a FakeLLM responder that plays a simple but honest curator.

It writes texts that contain a per-label keyword (so a TF-IDF classifier can learn them), labels texts
blind by looking for those keywords, and answers agent prompts with a scripted plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from tutorloop.llm import FakeLLM, ResponseCache
from tutorloop.types import LLMRequest

WORDS = (
    "film",
    "story",
    "acting",
    "scene",
    "plot",
    "ending",
    "music",
    "cast",
    "script",
    "camera",
    "pace",
    "dialogue",
    "hero",
    "villain",
    "sequel",
    "director",
    "moment",
    "style",
    "tone",
    "score",
)
KEYWORDS = {
    "positive": ("wonderful", "loved", "brilliant"),
    "negative": ("awful", "hated", "boring"),
    "neutral": ("okay", "average", "fine", "meh"),
}


def _rng_words(seed: str, k: int) -> list[str]:
    h = hashlib.sha256(seed.encode()).digest()
    return [WORDS[b % len(WORDS)] for b in h[:k]]


def schema_title(req: LLMRequest) -> str:
    return (req.json_schema or {}).get("title", "")


def user_text(req: LLMRequest) -> str:
    return req.messages[-1].content if req.messages[-1].role == "user" else req.messages[1].content


def json_after(text: str, marker: str) -> Any:
    start = text.index(marker) + len(marker)
    return json.JSONDecoder().raw_decode(text[start:].lstrip())[0]


def blind_label(text: str, labels: list[str], keywords: dict[str, tuple[str, ...]] | None = None) -> str:
    low = text.lower()
    for lab in labels:
        if any(k in low for k in (keywords or KEYWORDS).get(lab, (lab,))):
            return lab
    return labels[0]


class Curator:
    """A configurable responder. ``keywords`` are each label's cue words (default :data:`KEYWORDS`);
    ``refuse`` labels get refusals; ``agent_plan`` answers agent prompts; ``mislabel_every`` writes every
    k-th text with another label's keyword (to be caught by verification)."""

    def __init__(
        self,
        labels: list[str],
        *,
        refuse: tuple[str, ...] = (),
        agent_plan: Any = None,
        mislabel_every: int = 0,
        dup_every: int = 0,
        guided_keyword: dict[str, str] | None = None,
        fail_after: int | None = None,
        keywords: dict[str, tuple[str, ...]] | None = None,
    ):
        self.labels = labels
        self.keywords = keywords or KEYWORDS
        self.refuse = refuse
        self.agent_plan = agent_plan
        self.mislabel_every = mislabel_every
        self.dup_every = dup_every
        self.counter = 0
        self.guided_keyword = guided_keyword or {}
        self.fail_after = fail_after
        self.calls = 0
        self.seen: list[LLMRequest] = []

    def __call__(self, req: LLMRequest) -> Any:
        self.seen.append(req)
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        title = schema_title(req)
        msg = user_text(req)
        if title == "TopicsReply":
            label = re.search(r'label "(.+?)"', msg).group(1)
            n = int(re.search(r"List (\d+)", msg).group(1))
            return {"topics": [f"{label} topic {i}" for i in range(n)]}
        if title.startswith("Texts"):
            label = re.search(r'for the label "(.+?)"', msg).group(1)
            n = int(re.search(r"Write (\d+)", msg).group(1))
            if label in self.refuse:
                return {"texts": ["I'm sorry, but I can't write that."] * n}
            texts = []
            for i in range(n):
                self.counter += 1
                lab = label
                if self.mislabel_every and self.counter % self.mislabel_every == 0:
                    lab = next(x for x in self.labels if x != label)
                cues = self.keywords.get(lab, (lab,))
                kw = cues[i % min(3, len(cues))]  # the first three cues (neutral's fourth is the guided one)
                if "Guidance:" in msg and lab in self.guided_keyword:
                    kw = self.guided_keyword[lab]
                words = _rng_words(f"{msg}|{req.sample_index}|{i}", 6)
                if self.dup_every and self.counter % self.dup_every == 0 and texts:
                    texts.append(texts[-1] + "!")
                    continue
                texts.append(f"The {words[0]} was {kw}, {' '.join(words[1:])} {kw}.")
            return {"texts": texts}
        if title.startswith("Labels"):
            texts = json_after(msg, "Texts (JSON list of")
            texts = texts if isinstance(texts, list) else json_after(msg, "strings):")
            return {"labels": [blind_label(t, self.labels, self.keywords) for t in texts]}
        if title.startswith("Judge"):
            pairs = json_after(msg, "items):")
            return {"ok": [blind_label(t, self.labels, self.keywords) == lab for t, lab in pairs]}
        if title == "AgentPlan":
            plan = self.agent_plan(req) if callable(self.agent_plan) else self.agent_plan
            return plan or {"diagnosis": "fine", "actions": [{"tool": "stop", "reason": "done"}]}
        if title == "DescriptionReply":
            label = re.search(r'label "(.+?)"', msg).group(1)
            return {"description": f"Texts about {label}."}
        raise AssertionError(f"unexpected request {title!r}")


def fake_llm(labels: list[str], cache_path: Any = None, **kwargs: Any) -> tuple[FakeLLM, Curator]:
    curator = Curator(labels, **kwargs)
    cache = ResponseCache(cache_path) if cache_path is not None else None
    return FakeLLM(responder=curator, cache=cache), curator


def count_purposes(llm: FakeLLM) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in llm.ledger.entries:
        out[e.purpose] = out.get(e.purpose, 0) + 1
    return out


Responder = Callable[[LLMRequest], Any]
