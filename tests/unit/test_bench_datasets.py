"""Benchmark data sets: folder loading, validation errors and the seeded k-shot split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutorloop.bench.datasets import check_k, kshot_split, load_dataset, load_folder
from tutorloop.bench.tasks import TaskSpec, load_tasks
from tutorloop.errors import ConfigError, DataError


def make_set(
    root: Path, name: str = "toy", counts: dict[str, int] | None = None, labels: list[str] | None = None
) -> Path:
    counts = counts or {"neg": 12, "pos": 10, "neu": 9}
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps(labels or list(counts)))
    rows = [
        {"text": f"{label} text number {i}", "label": label} for label, n in counts.items() for i in range(n)
    ]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_load_folder_keeps_label_order_and_rows(tmp_path: Path) -> None:
    folder = make_set(tmp_path, labels=["pos", "neu", "neg"])
    ds = load_dataset(str(folder))
    assert ds.name == "toy"
    assert ds.labels == ["pos", "neu", "neg"]
    assert len(ds) == 31
    assert ds.class_counts() == {"pos": 10, "neu": 9, "neg": 12}
    assert ds.texts[0] == "neg text number 0" and ds.gold[0] == "neg"


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    a = load_folder(make_set(tmp_path / "a"))
    b = load_folder(make_set(tmp_path / "b"))
    assert a.fingerprint == b.fingerprint
    path = tmp_path / "b" / "toy" / "test.jsonl"
    path.write_text(path.read_text().replace("number 3", "number three", 1))
    assert load_folder(tmp_path / "b" / "toy").fingerprint != a.fingerprint


def test_folder_without_labels_json(tmp_path: Path) -> None:
    folder = make_set(tmp_path)
    (folder / "labels.json").unlink()
    with pytest.raises(DataError, match="No labels.json"):
        load_dataset(str(folder))


def test_labels_not_in_labels_json(tmp_path: Path) -> None:
    folder = make_set(tmp_path, labels=["neg", "pos"])
    with pytest.raises(DataError, match="labels that labels.json does not list: 'neu'"):
        load_dataset(str(folder))


def test_empty_test_file(tmp_path: Path) -> None:
    folder = make_set(tmp_path)
    (folder / "test.jsonl").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(str(folder))


def test_malformed_line_names_its_number(tmp_path: Path) -> None:
    folder = make_set(tmp_path)
    with (folder / "test.jsonl").open("a") as fh:
        fh.write('{"text": "no label here"}\n')
    with pytest.raises(DataError, match="line 32"):
        load_dataset(str(folder))


def test_bad_labels_json(tmp_path: Path) -> None:
    folder = make_set(tmp_path)
    (folder / "labels.json").write_text(json.dumps(["neg", "neg", "pos"]))
    with pytest.raises(DataError, match="more than once"):
        load_dataset(str(folder))


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No benchmark folder"):
        load_dataset(str(tmp_path / "nope"))


def test_hub_names_go_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets", reason="needs the [setfit] extra (datasets)")

    table = datasets.Dataset.from_dict(
        {"sentence": ["good", "bad", "fine"], "label": [1, 0, 1]},
        features=datasets.Features(
            {
                "sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["negative", "positive"]),
            }
        ),
    )
    calls = []

    def fake_load(repo: str, config: str | None = None, split: str | None = None) -> datasets.Dataset:
        calls.append((repo, config, split))
        return table

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ds = load_dataset("hf:glue:sst2")
    assert calls == [("glue", "sst2", "test")]
    assert ds.labels == ["negative", "positive"]
    assert ds.gold == ["positive", "negative", "positive"]
    assert ds.texts == ["good", "bad", "fine"] and ds.source == "hf:glue:sst2"


def test_k_larger_than_a_class(tmp_path: Path) -> None:
    ds = load_folder(make_set(tmp_path, counts={"a": 20, "b": 5}))
    with pytest.raises(ConfigError, match=r"'b' has 5.*--k 4"):
        check_k(ds, 8)
    with pytest.raises(ConfigError, match="'b' has 5"):
        kshot_split(ds, 5, seed=0)  # k equal to the class size would leave nothing of 'b' to evaluate
    assert len(kshot_split(ds, 4, seed=0).train_idx) == 8


def test_label_without_examples_cannot_be_split(tmp_path: Path) -> None:
    ds = load_folder(make_set(tmp_path, counts={"a": 20, "b": 5}, labels=["a", "b", "c"]))
    with pytest.raises(ConfigError, match="'c' has 0"):
        check_k(ds, 1)


def test_kshot_split_is_deterministic_disjoint_and_balanced(tmp_path: Path) -> None:
    ds = load_folder(make_set(tmp_path))
    s1, s2 = kshot_split(ds, 3, seed=7), kshot_split(ds, 3, seed=7)
    assert s1 == s2
    assert not set(s1.train_idx) & set(s1.eval_idx)
    assert sorted(s1.train_idx + s1.eval_idx) == list(range(len(ds)))
    per_label = {lab: sum(ds.gold[i] == lab for i in s1.train_idx) for lab in ds.labels}
    assert per_label == {"neg": 3, "pos": 3, "neu": 3}
    others = {tuple(kshot_split(ds, 3, seed=s).train_idx) for s in range(5)}
    assert len(others) > 1  # the seed matters


def test_k_zero_keeps_everything_for_evaluation(tmp_path: Path) -> None:
    ds = load_folder(make_set(tmp_path))
    split = kshot_split(ds, 0, seed=0)
    assert split.train_idx == [] and split.eval_idx == list(range(len(ds)))


def test_tasks_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("toy:\n  description: Sort toys.\n  labels: {neg: not a toy}\n")
    specs = load_tasks(path)
    assert specs["toy"] == TaskSpec("toy", "Sort toys.", {"neg": "not a toy"}, from_file=True)
    path.write_text("toy:\n  description: |\n    two\n    lines\n")
    with pytest.raises(ConfigError, match="one non-empty line"):
        load_tasks(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_tasks(tmp_path / "missing.yaml")


def test_repository_tasks_file_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks.yaml"
    specs = load_tasks(path)
    assert set(specs) == {"sst2", "ag_news", "trec", "banking77"}
    assert not specs["banking77"].label_descriptions
