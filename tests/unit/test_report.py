"""Report files, export formats and unlabelled-file handling of a finished run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_loop import cfg, sentiment
from test_loop_support import fake_llm

from tutorloop.errors import ConfigError, DataError
from tutorloop.loop import Task, run
from tutorloop.loop.export import export_run
from tutorloop.reports import write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    llm, _ = fake_llm(["positive", "negative"], mislabel_every=5)
    return run(
        sentiment(),
        llm=llm,
        classifier="tfidf",
        config=cfg(max_rounds=1),
        out=tmp_path_factory.mktemp("run") / "r",
        progress=False,
    ).run_dir


def test_report_has_sections_and_inline_plots(run_dir: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need the [report] extra")
    (run_dir / "report.html").unlink()
    md, html = write_report(run_dir)
    text, page = md.read_text(), html.read_text()
    for section in ("## Summary", "## Rounds", "## Data", "## Sample training examples"):
        assert section in text
    assert "Classify movie reviews by sentiment" in page and "<script" not in page
    assert page.count("data:image/png;base64,") == 4
    assert "src='http" not in page  # self-contained


def test_export_jsonl_csv_hf_keep_provenance(run_dir: Path, tmp_path: Path) -> None:
    path, n = export_run(run_dir, "jsonl", tmp_path / "d.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == n > 0 and {"origin", "round", "verdict", "prompt_id", "attributes", "split"} <= set(
        rows[0]
    )
    assert all(r["status"] == "active" for r in rows)
    path_all, n_all = export_run(run_dir, "csv", tmp_path / "d.csv", include_dropped=True)
    with path_all.open() as fh:
        csv_rows = list(csv.DictReader(fh))
    assert n_all == len(csv_rows) > n and any(r["status"] == "dropped" and r["reason"] for r in csv_rows)
    assert isinstance(json.loads(csv_rows[0]["attributes"]), dict)
    pytest.importorskip("datasets")
    import datasets

    hf_path, n_train = export_run(run_dir, "hf", tmp_path / "hf", split="train")
    ds = datasets.load_from_disk(str(hf_path))
    assert len(ds) == n_train and set(ds["split"]) == {"train"}


def test_export_errors(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="not a tutorloop run folder"):
        export_run(tmp_path, "jsonl")
    with pytest.raises(ConfigError, match="Unknown export format"):
        export_run(run_dir, "xml")


def test_empty_unlabelled_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n\n")
    task = Task.from_dict(
        {"task": "Sentiment", "labels": ["positive", "negative"], "unlabelled": str(tmp_path / "empty.txt")}
    )
    llm, _ = fake_llm(["positive", "negative"])
    with pytest.raises(DataError, match="has no texts"):
        run(task, llm=llm, classifier="tfidf", config=cfg(), out=tmp_path / "r", progress=False)


def test_huge_unlabelled_file_is_sampled(tmp_path: Path) -> None:
    lines = [f"review {i}: wonderful" if i % 2 else f"review {i}: awful" for i in range(300)]
    (tmp_path / "big.txt").write_text("\n".join(lines))
    task = Task.from_dict(
        {"task": "Sentiment", "labels": ["positive", "negative"], "unlabelled": str(tmp_path / "big.txt")}
    )
    llm, _ = fake_llm(["positive", "negative"])
    result = run(
        task,
        llm=llm,
        classifier="tfidf",
        config=cfg(max_rounds=0, max_unlabelled=50),
        out=tmp_path / "r",
        progress=False,
    )
    assert any("300 texts; using a uniform sample of 50" in w for w in result.warnings)
    from tutorloop.data.store import Store

    val = Store(result.run_dir / "store.sqlite").examples(split="val")
    assert val and all(e["attributes"]["source"] == "unlabelled" and e["text"] in lines for e in val)
