"""Response cache: hits, misses, key sensitivity, persistence, and that caching never changes results."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from tutorloop.llm import FakeLLM, Ledger, ResponseCache
from tutorloop.llm.cache import default_cache_path
from tutorloop.types import LLMRequest, LLMResponse, Message

BASE = LLMRequest(
    messages=(Message("system", "You label reviews."), Message("user", "Great film")),
    json_schema={"type": "object", "properties": {"label": {"type": "string"}}},
    temperature=0.0,
    max_tokens=64,
    seed=0,
    sample_index=0,
)


class Label(BaseModel):
    label: str


def test_cache_miss_then_hit_returns_stored_reply(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = BASE.key("fake", "m")
    assert cache.get(key) is None
    cache.put(
        key,
        LLMResponse(text='{"label":"pos"}', model="m", prompt_tokens=7, completion_tokens=3, latency_s=1.25),
    )
    hit = cache.get(key)
    assert hit is not None and hit.cached
    assert (hit.text, hit.prompt_tokens, hit.completion_tokens) == ('{"label":"pos"}', 7, 3)
    assert hit.latency_s == 1.25
    assert len(cache) == 1


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "c.sqlite").put("k", LLMResponse(text="hello", model="m"))
    assert ResponseCache(tmp_path / "c.sqlite").get("k").text == "hello"


@pytest.mark.parametrize(
    "change",
    [
        {"messages": (Message("system", "You label reviews."), Message("user", "Great film!"))},
        {"messages": (Message("user", "You label reviews."), Message("user", "Great film"))},
        {"json_schema": {"type": "object", "properties": {"label": {"type": "integer"}}}},
        {"json_schema": None},
        {"temperature": 0.7},
        {"max_tokens": 65},
        {"seed": 1},
        {"sample_index": 1},
    ],
)
def test_key_changes_with_every_request_field(change: dict) -> None:
    changed = dataclasses.replace(BASE, **change)
    assert changed.key("fake", "m") != BASE.key("fake", "m")


def test_key_changes_with_backend_and_model_and_is_stable() -> None:
    keys = {BASE.key("fake", "m"), BASE.key("openai", "m"), BASE.key("fake", "m2")}
    assert len(keys) == 3
    same = LLMRequest(messages=tuple(BASE.messages), json_schema=dict(BASE.json_schema), max_tokens=64)
    assert same.key("fake", "m") == BASE.key("fake", "m")


def test_llm_uses_cache_and_skips_the_model_on_a_hit(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    first = FakeLLM(replies=[{"label": "pos"}], cache=cache)
    assert first.structured("Great film", Label).label == "pos"
    # A second backend object with no scripted replies left must be served from the cache alone.
    second = FakeLLM(replies=[], cache=cache)
    assert second.structured("Great film", Label).label == "pos"
    assert second.requests == []
    assert second.ledger.summary()["cache_hits"] == 1
    assert second.ledger.summary()["total_tokens"] == 0


def test_no_cache_gives_the_same_results(tmp_path: Path) -> None:
    def responder(req: LLMRequest) -> dict:
        return {"label": req.messages[-1].content.split()[-1]}

    prompts = [f"text {w}" for w in ("alpha", "beta", "alpha")]
    cached = FakeLLM(responder=responder, cache=ResponseCache(tmp_path / "c.sqlite"))
    uncached = FakeLLM(responder=responder)
    run1 = [cached.structured(p, Label) for p in prompts]
    run2 = [cached.structured(p, Label) for p in prompts]
    plain = [uncached.structured(p, Label) for p in prompts]
    assert run1 == run2 == plain
    assert len(cached.requests) == 2  # the repeated "alpha" prompt and the whole second run were hits
    assert len(uncached.requests) == 3


def test_cache_never_stores_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from tutorloop.llm.openai_compat import OpenAICompatLLM

    secret = "sk-test-SECRET-123456"
    monkeypatch.setenv("MY_KEY", secret)
    reply = {"choices": [{"message": {"content": '{"label": "x"}'}}], "usage": {}}
    llm = OpenAICompatLLM(
        "m",
        base_url="https://llm.example/v1",
        api_key_env="MY_KEY",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=reply)),
        cache=ResponseCache(tmp_path / "c.sqlite"),
    )
    llm.structured("hi", Label)
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # db, -wal and -shm files
    assert b'{"label": "x"}' in written  # the reply is there ...
    assert secret.encode() not in written  # ... the key is not
    assert secret not in repr(llm) and secret not in str(llm.describe())


def test_default_cache_path_follows_tutorloop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORLOOP_HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / "llm_cache.sqlite"
    assert os.path.isdir(tmp_path / "home")


def test_a_read_only_cache_folder_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutorloop.errors import ConfigError
    from tutorloop.llm import get_llm

    home = tmp_path / "home"
    home.mkdir()
    real = os.access

    def access(path: str | Path, mode: int, **kw: object) -> bool:  # a read-only folder, also for root
        return not (Path(path) == home and mode & os.W_OK) and real(path, mode, **kw)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setenv("TUTORLOOP_HOME", str(home))
    with pytest.raises(ConfigError) as info:
        get_llm("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1")  # built before any request
    assert str(info.value).startswith(f"Cannot write to the LLM response cache folder {home} (")
    assert "--no-cache" in str(info.value) and not (home / "llm_cache.sqlite").exists()
    get_llm("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1", cache=False).close()  # --no-cache works


def test_a_full_disk_skips_caching_with_a_warning_and_keeps_the_reply(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    pages = cache._conn.execute("PRAGMA page_count").fetchone()[0]
    cache._conn.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL on the next growth
    llm = FakeLLM(responder=lambda req: {"label": "x" * 50_000}, cache=cache)
    with pytest.warns(UserWarning, match=r"Could not write the LLM response cache .*c\.sqlite"):
        reply = llm.structured("Great film", Label)
    assert len(reply.label) == 50_000 and len(cache) == 0


def test_a_reply_cached_but_never_ledgered_is_counted_once_when_next_used(tmp_path: Path) -> None:
    # a process killed between cache.put and the ledger row leaves a paid reply that no ledger counted
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = BASE.key("fake", "fake")
    reply = LLMResponse(text='{"label":"pos"}', model="fake", prompt_tokens=7, completion_tokens=3)
    cache.put(key, reply, recorded=False)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    llm = FakeLLM(responder=lambda req: {"label": "neg"}, cache=cache).recording_to(ledger)
    assert llm.complete(BASE).text == '{"label":"pos"}'  # from the cache: not paid again
    assert llm.complete(BASE).text == '{"label":"pos"}'
    assert [e.cached for e in ledger.entries] == [False, True]  # counted once, as paid
    assert ledger.summary()["total_tokens"] == 10
    assert Ledger(tmp_path / "ledger.jsonl").summary()["total_tokens"] == 10
    again = cache.get(key)
    assert again is not None and again.cached


def test_a_reply_ledgered_but_not_marked_is_not_counted_twice(tmp_path: Path) -> None:
    # killed after the ledger row, before the cache noted it: the run's ledger already counts it
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = FakeLLM(responder=lambda req: {"label": "pos"}, cache=cache)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    first = llm.recording_to(ledger).complete(BASE)
    key = BASE.key("fake", "fake")
    cache.put(key, first, recorded=False)  # as it stood between the ledger row and mark_recorded
    resumed = Ledger(tmp_path / "ledger.jsonl")
    llm2 = FakeLLM(responder=lambda req: {"label": "neg"}, cache=cache).recording_to(resumed)
    assert llm2.complete(BASE).text == first.text
    assert [e.cached for e in resumed.entries] == [False, True]
    assert llm2.requests == []


def test_a_cache_without_the_recorded_column_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE replies (key TEXT PRIMARY KEY, model TEXT, text TEXT, prompt_tokens INTEGER,"
            " completion_tokens INTEGER, latency_s REAL, created REAL DEFAULT (unixepoch()))"
        )
        db.execute(
            "INSERT INTO replies (key, model, text, prompt_tokens, completion_tokens, latency_s)"
            " VALUES ('k', 'm', 'hi', 1, 1, 0.0)"
        )
    hit = ResponseCache(path).get("k")
    assert hit is not None and hit.cached and hit.text == "hi"
