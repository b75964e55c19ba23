"""``tutorloop predict --engine ray``: option checks and the missing-extra error, without starting Ray.

The Ray runs themselves are in tests/integration/test_ray_predict.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tutorloop.classifiers import make_classifier
from tutorloop.cli.main import cli, main


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    clf = make_classifier("tfidf").fit(
        ["good film", "great movie", "awful plot", "bad acting"], ["pos", "pos", "neg", "neg"]
    )
    return clf.save(tmp_path_factory.mktemp("cli_predict") / "model")


@pytest.fixture
def inputs(tmp_path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.jsonl").write_text(json.dumps({"text": "great movie"}) + "\n")
    return root


def test_missing_ray_on_the_command_line(model, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    args = ["predict", str(model), "--input", str(inputs), "--engine", "ray", "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("ConfigError: --engine ray needs Ray Data")
    assert 'pip install "tutorloop[ray]"' in err
    assert not (tmp_path / "o").exists()


def test_ray_only_options_are_refused_with_the_local_engine(model, tmp_path):
    result = CliRunner().invoke(cli, ["predict", str(model), "great", "--concurrency", "2", "--overwrite"])
    assert result.exit_code == 2
    assert "--concurrency, --overwrite only apply with --engine ray" in result.output


def test_ray_engine_needs_input_and_output(model, tmp_path):
    result = CliRunner().invoke(cli, ["predict", str(model), "--input", str(tmp_path), "--engine", "ray"])
    assert result.exit_code == 2
    assert "--engine ray needs --input DIR_OR_GLOB and --output DIR" in result.output


def test_local_engine_still_rejects_a_folder_as_output(model, inputs, tmp_path):
    result = CliRunner().invoke(
        cli, ["predict", str(model), "--input", str(inputs / "a.jsonl"), "--output", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "is a folder; give a file" in result.output
