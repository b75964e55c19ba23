"""LocalLLM request building, without loading a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tutorloop.llm.local import LocalLLM, _closed, _has_llguidance, compact_json_grammar, default_threads
from tutorloop.types import LLMRequest, Message


class Inner(BaseModel):
    properties: str  # a field literally called "properties" must stay a field
    n: int


class Outer(BaseModel):
    items: list[Inner]


def test_closed_forbids_extra_keys_on_every_object_only() -> None:
    schema = _closed(Outer.model_json_schema())
    assert schema["additionalProperties"] is False
    inner = schema["$defs"]["Inner"]
    assert inner["additionalProperties"] is False
    assert set(inner["properties"]) == {"properties", "n"}  # the field map itself was not touched
    assert "additionalProperties" not in schema["properties"]["items"]


def test_closed_keeps_explicit_additional_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True}
    assert _closed(schema)["additionalProperties"] is True
    assert "additionalProperties" not in schema or schema["additionalProperties"] is True  # input not mutated


def test_compact_grammar_embeds_schema_and_options() -> None:
    grammar = compact_json_grammar(Outer.model_json_schema())
    head, body = grammar.split("\n", 1)
    assert head == "%llguidance {}" and body.startswith("start: %json ")
    schema = json.loads(body.removeprefix("start: %json "))
    assert schema["x-guidance"]["whitespace_flexible"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False


def test_body_uses_compact_grammar_or_response_format(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="needs the [local] extra (llama.cpp)")
    req = LLMRequest(
        (Message("user", "hi"),),
        json_schema=Outer.model_json_schema(),
        max_tokens=9,
        temperature=0.5,
        seed=2,
        sample_index=3,
    )
    compact = LocalLLM(tmp_path / "m.gguf", threads=1)._body(req)
    plain = LocalLLM(tmp_path / "m.gguf", threads=1, compact_json=False)._body(req)
    if _has_llguidance():
        assert "grammar" in compact and "response_format" not in compact
    assert plain["response_format"]["json_schema"]["schema"] == Outer.model_json_schema()
    assert "grammar" not in plain
    assert plain["max_tokens"] == 9 and plain["messages"] == [{"role": "user", "content": "hi"}]
    assert (
        plain["seed"]
        != LocalLLM(tmp_path / "m.gguf")._body(
            LLMRequest(req.messages, json_schema=req.json_schema, seed=2, sample_index=4)
        )["seed"]
    )


def test_free_text_request_has_no_constraint(tmp_path: Path) -> None:
    body = LocalLLM(tmp_path / "m.gguf")._body(LLMRequest((Message("user", "hi"),)))
    assert "grammar" not in body and "response_format" not in body


def test_default_threads_and_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TUTORLOOP_LLM_THREADS", raising=False)
    assert 1 <= default_threads() <= 2
    from tutorloop.errors import ConfigError

    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        LocalLLM(tmp_path / "m.gguf", threads=0)


def test_describe_never_loads(tmp_path: Path) -> None:
    info = LocalLLM(tmp_path / "absent.gguf", model_name="x", threads=1).describe()
    assert info == {
        "backend": "local",
        "model": "x",
        "path": str(tmp_path / "absent.gguf"),
        "sha256": None,
        "threads": 1,
        "n_ctx": 4096,
    }
