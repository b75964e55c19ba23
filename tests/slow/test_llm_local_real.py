"""The embedded backend for real: SmolLM2-135M through llama.cpp (xllamacpp). Small and fast (seconds)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from tutorloop.llm import LLM
from tutorloop.llm.local import LocalLLM, loaded_model

pytestmark = pytest.mark.slow

LABELS = ("sports", "politics", "cooking", "music", "weather")


class Topic(BaseModel):
    topic: Literal["sports", "politics", "cooking", "music", "weather"]


class Item(BaseModel):
    text: str = Field(max_length=120)
    label: Literal["positive", "negative"]


class Batch(BaseModel):
    examples: list[Item] = Field(min_length=2, max_length=2)


def test_schema_constrained_reply_is_valid(smollm2_path: Path) -> None:
    llm = LocalLLM(smollm2_path, threads=1)
    reply = llm.structured(
        "Which topic is this headline about? 'Striker scores twice as City win the cup.' "
        f"Choose one of: {', '.join(LABELS)}.",
        Topic,
        max_tokens=24,
        max_attempts=1,
    )
    assert reply.topic in LABELS  # guaranteed by the grammar, not by luck: max_attempts=1
    usage = llm.ledger.summary()
    assert usage["calls"] == 1 and usage["prompt_tokens"] > 20 and usage["completion_tokens"] > 3
    assert llm.ledger.entries[0].latency_s > 0


def test_nested_schema_with_defs_is_enforced(smollm2_path: Path) -> None:
    llm = LocalLLM(smollm2_path, threads=1)
    out = llm.structured(
        "Write two short movie reviews, one positive and one negative, as JSON.",
        Batch,
        max_tokens=200,
        max_attempts=1,
    )
    assert len(out.examples) == 2 and all(e.label in ("positive", "negative") for e in out.examples)


@pytest.mark.parametrize("compact", [True, False])
def test_compact_and_standard_constraints_both_hold(smollm2_path: Path, compact: bool) -> None:
    from tutorloop.types import LLMRequest, Message

    llm = LocalLLM(smollm2_path, threads=1, compact_json=compact)
    msgs = (Message("user", "Write two short movie reviews, one positive and one negative, as JSON."),)
    resp = llm.complete(LLMRequest(msgs, json_schema=Batch.model_json_schema(), max_tokens=200))
    batch = Batch.model_validate_json(resp.text)  # strict: no lenient extraction
    assert len(batch.examples) == 2
    if compact:
        assert "\n" not in resp.text and '", "label": "' in resp.text


def test_model_is_loaded_once_and_shared(smollm2_path: Path) -> None:
    a, b = LocalLLM(smollm2_path, threads=1), LocalLLM(smollm2_path, threads=1)
    assert a._loaded() is b._loaded()
    assert LocalLLM(smollm2_path, threads=1).describe()["sha256"].startswith("b179c952")


def test_sample_index_varies_samples_at_temperature(smollm2_path: Path) -> None:
    llm = LocalLLM(smollm2_path, threads=1)
    from tutorloop.types import LLMRequest, Message

    msgs = (Message("user", "Write one short sentence about the sea."),)

    def sample(i: int) -> str:
        return llm.complete(LLMRequest(msgs, temperature=1.0, max_tokens=20, sample_index=i)).text

    texts = {sample(i) for i in range(3)}
    same = {sample(0) for _ in range(2)}
    assert len(texts) >= 2  # different samples
    assert len(same) == 1  # same seed, same sample: reproducible


# -- the listener xllamacpp always opens must not be an open, unauthenticated port ------------------
def _tcp_listen_inodes() -> set[str]:
    """Inodes of TCP sockets in LISTEN state owned by this process (Linux /proc)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A":  # TCP_LISTEN
                listening.add(cols[9])
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return listening & mine


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to list sockets")
def test_listener_is_private_unix_socket_with_api_key(smollm2_path: Path) -> None:
    before = _tcp_listen_inodes()
    loaded = loaded_model(smollm2_path, threads=1, n_ctx=1536)  # a fresh load, not shared with other tests
    assert _tcp_listen_inodes() == before, "the embedded model opened a TCP listening port"

    address = loaded.address
    assert address.startswith("unix://")
    sock = Path(address.removeprefix("unix://"))
    assert stat.S_ISSOCK(sock.stat().st_mode)
    dir_mode = stat.S_IMODE(sock.parent.stat().st_mode)
    assert dir_mode == 0o700 and sock.parent.stat().st_uid == os.getuid()

    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=60) as client:
        assert client.post("http://local/v1/chat/completions", json=body).status_code == 401
        wrong = {"Authorization": "Bearer " + "0" * 64}
        assert client.post("http://local/v1/chat/completions", json=body, headers=wrong).status_code == 401
        assert client.get("http://local/slots").status_code in (401, 404, 501)
        right = {"Authorization": f"Bearer {loaded.api_key}"}
        assert client.post("http://local/v1/chat/completions", json=body, headers=right).status_code == 200


def test_is_an_llm(smollm2_path: Path) -> None:
    assert isinstance(LocalLLM(smollm2_path), LLM) and LocalLLM.supports_schema
