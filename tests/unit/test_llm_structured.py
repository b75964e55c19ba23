"""Structured replies: validation, re-asking with the error, the typed error after N attempts, batches."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from tutorloop.errors import LLMError, LLMOutputError
from tutorloop.llm import FakeLLM, StructuredJob, extract_json
from tutorloop.types import LLMRequest


class Item(BaseModel):
    text: str
    label: str


class Batch(BaseModel):
    examples: list[Item]


def test_valid_first_reply_needs_one_call() -> None:
    llm = FakeLLM(replies=[{"examples": [{"text": "a", "label": "x"}]}])
    out = llm.structured("make one", Batch)
    assert out.examples[0].label == "x" and len(llm.requests) == 1


def test_invalid_then_valid_reasks_with_the_validation_error() -> None:
    llm = FakeLLM(replies=['{"examples": [{"text": "a"}]}', {"examples": [{"text": "a", "label": "y"}]}])
    out = llm.structured("make one", Batch)
    assert out.examples[0].label == "y"
    assert len(llm.requests) == 2
    retry = llm.requests[1].messages
    assert retry[-2].role == "assistant" and retry[-2].content == '{"examples": [{"text": "a"}]}'
    assert retry[-1].role == "user" and "examples.0.label" in retry[-1].content
    # the re-ask is a different request, so it is cached separately
    assert llm.requests[0].key("fake", "fake") != llm.requests[1].key("fake", "fake")


def test_non_json_chatter_is_parsed_leniently() -> None:
    llm = FakeLLM(replies=['Sure! Here it is:\n```json\n{"text": "t", "label": "l"}\n```'])
    assert llm.structured("x", Item) == Item(text="t", label="l")


def test_output_error_after_max_attempts_carries_raw_text_and_usage() -> None:
    llm = FakeLLM(replies=["not json", '{"text": 1}', '{"label": "only"}'])
    with pytest.raises(LLMOutputError) as info:
        llm.structured("x", Item, max_attempts=3)
    err = info.value
    assert err.attempts == 3 and err.raw == '{"label": "only"}'
    assert "Item" in str(err) and "3 attempts" in str(err)
    assert err.usage["completion_tokens"] == 2 + 2 + 2  # FakeLLM counts words of the three replies
    assert len(llm.requests) == 3


def test_max_attempts_is_respected() -> None:
    llm = FakeLLM(responder=lambda req: "nope")
    with pytest.raises(LLMOutputError):
        llm.structured("x", Item, max_attempts=5)
    assert len(llm.requests) == 5


def test_schema_hint_added_only_when_backend_lacks_native_schema() -> None:
    class PromptOnly(FakeLLM):
        supports_schema = False

    native, prompt_only = (
        FakeLLM(replies=[{"text": "a", "label": "b"}]),
        PromptOnly(replies=[{"text": "a", "label": "b"}]),
    )
    native.structured("hello", Item)
    prompt_only.structured("hello", Item)
    assert [m.role for m in native.requests[0].messages] == ["user"]
    sys_msg = prompt_only.requests[0].messages[0]
    assert sys_msg.role == "system" and '"label"' in sys_msg.content
    assert native.requests[0].json_schema == Item.model_json_schema()


def test_structured_many_keeps_order_and_returns_errors_in_place() -> None:
    def responder(req: LLMRequest) -> str | dict:
        word = req.messages[0].content
        return "garbage" if word == "bad" else {"text": word, "label": word.upper()}

    llm = FakeLLM(responder=responder, max_concurrency=4)
    jobs = [StructuredJob(w, Item) for w in ("a", "bad", "c", "d")]
    done = []
    out = llm.structured_many(jobs, max_attempts=2, on_done=lambda: done.append(1))
    assert [o.label if isinstance(o, Item) else type(o).__name__ for o in out] == [
        "A",
        "LLMOutputError",
        "C",
        "D",
    ]
    assert len(done) == 4


def test_structured_many_runs_max_concurrency_at_a_time() -> None:
    active, peak, lock = 0, 0, threading.Lock()

    def responder(req: LLMRequest) -> dict:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return {"text": "t", "label": "l"}

    llm = FakeLLM(responder=responder, max_concurrency=3)
    llm.structured_many([StructuredJob(f"p{i}", Item) for i in range(9)])
    assert peak == 3


def test_other_errors_propagate_from_structured_many() -> None:
    llm = FakeLLM(replies=[])
    with pytest.raises(LLMError, match="ran out of scripted replies"):
        llm.structured_many([StructuredJob("x", Item)])


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"a": 1}', '{"a": 1}'),
        ('noise {"a": [1, 2]} trailing', '{"a": [1, 2]}'),
        ("```\n[1, 2]\n```", "[1, 2]"),
    ],
)
def test_extract_json(text: str, expected: str) -> None:
    assert extract_json(text) == expected
