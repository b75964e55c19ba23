"""`tutorloop llm check` end to end on the packaged SmolLM2 model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tutorloop.cli.main import cli

pytestmark = pytest.mark.slow


def test_llm_check_json_on_smollm2(smollm2_path) -> None:
    args = ["llm", "check", "--llm", "local:smollm2", "--threads", "1", "--no-cache", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["backend"] == "local" and info["model"] == "smollm2-135m-instruct-q4_1"
    assert info["path"] == str(smollm2_path) and len(info["sha256"]) == 64 and info["threads"] == 1
    assert info["reply"]["label"] in ("positive", "negative")
    assert info["prompt_tokens"] > 0 and info["completion_tokens"] > 0 and info["latency_s"] > 0
    assert info["cached"] is False


def test_llm_check_table_and_cache_hit() -> None:
    args = ["llm", "check", "--llm", "local:smollm2", "--threads", "1"]
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args + ["--json"])
    assert first.exit_code == 0 and "smollm2-135m-instruct-q4_1" in first.output and "reply" in first.output
    assert json.loads(second.output)["cached"] is True
