"""Task files and LoopConfig: clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorloop.errors import ConfigError
from tutorloop.loop import LabelSpec, LoopConfig, Task


def test_yaml_round_trip_with_descriptions_examples_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "t.yaml"
    f.write_text(
        "task: Sentiment\nlabels:\n  - name: positive\n    description: liked it\n    examples: [Great!]\n"
        "  - negative\nunlabelled: texts.txt\ndev: {path: dev.csv, text_column: t, label_column: y}\n"
    )
    t = Task.from_yaml(f)
    assert t.labels[0] == LabelSpec("positive", "liked it", ["Great!"]) and t.labels[1].name == "negative"
    assert t.unlabelled.path == str(tmp_path / "sub" / "texts.txt") and t.dev.label_column == "y"
    t.to_yaml(tmp_path / "copy.yaml")
    assert Task.from_yaml(tmp_path / "copy.yaml") == t


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "task: x\nlabels: [a, b]\nlables: [c]\n",
            "Unknown key 'lables' in task file. Allowed keys: task, labels",
        ),
        (
            "task: x\nlabels: [{name: a, desc: y}, b]\n",
            "Unknown key 'desc' in label 'a'. Allowed keys: name, ",
        ),
        ("task: x\nlabels: [a]\n", "at least two labels"),
        ("task: x\nlabels: [a, A]\n", "must be unique"),
        ("task: x\nlabels: [a, '']\n", "non-empty"),
        ("task: ''\nlabels: [a, b]\n", "description is empty"),
        ("labels: [a, b]\n", "needs both 'task'"),
        ("task: x\nlabels: [a, b]\ndev: {file: d.csv}\n", "'dev' must be a file path"),
        ("task: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_task_files_say_what_is_wrong(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        Task.from_yaml(f)


def test_missing_task_file_points_to_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tutorloop init"):
        Task.from_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"max_rounds": -1},
            "The 'max_rounds' parameter of LoopConfig must be an int in [0, 50] or None. Got -1 instead.",
        ),
        (
            {"agent": "gpt"},
            "The 'agent' parameter of LoopConfig must be one of ['auto', 'llm', 'policy']. Got 'gpt'",
        ),
        ({"dedup_threshold": 2}, "'dedup_threshold' parameter of LoopConfig must be a float in [0.5, 1.0]"),
        ({"examples_per_label": 0}, "an int in [1, 1000] or None. Got 0 instead."),
        ({"verify": "yes"}, "'verify' parameter of LoopConfig must be a bool"),
        ({"token_budget": 1.5}, "'token_budget'"),
    ],
)
def test_loop_config_validation_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        LoopConfig(**kwargs)
    assert message in str(info.value)


def test_loop_config_is_frozen_and_scales_with_labels() -> None:
    cfg = LoopConfig()
    with pytest.raises(AttributeError):
        cfg.max_rounds = 3  # type: ignore[misc]
    small, big = cfg.resolved(4), cfg.resolved(77)
    assert small.examples_per_label > big.examples_per_label and small.val_per_label > big.val_per_label
    assert big.verify_batch == 1 and big.targeted_per_round == 64
    assert big.label_shortlist == 8 and LoopConfig().resolved(20).label_shortlist == 0
    assert LoopConfig(examples_per_label=50).resolved(77).examples_per_label == 50
    assert LoopConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="Unknown LoopConfig key"):
        LoopConfig.from_dict({"rounds": 3})
    assert all(LoopConfig.describe_fields().values())
