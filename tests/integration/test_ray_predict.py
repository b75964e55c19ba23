"""``predict_dataset(engine="ray")`` on a real local Ray cluster: same predictions as the local engine,
row order and ids kept, Parquet and JSONL in and out, a failing block retried.

The cluster (2 CPUs, no dashboard) is started once for the module; ``predict_dataset`` uses that
connection and leaves it running. The model is a tfidf classifier trained on the 40-row contract set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tutorloop.classifiers import load, make_classifier
from tutorloop.cli.main import cli
from tutorloop.data.io import read_labelled
from tutorloop.scale import predict_dataset

ray = pytest.importorskip("ray", reason='needs the [ray] extra: pip install "tutorloop[ray]"')
pytest.importorskip("ray.data", reason='needs the [ray] extra: pip install "tutorloop[ray]"')
pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

TINY = Path(__file__).parents[1] / "contract" / "tiny.jsonl"
N_FILES, ROWS_PER_FILE = 3, 1000
WORDS = [
    "striker scored a goal",
    "heavy rain and snow tomorrow",
    "bake the bread with butter",
    "the new phone has a faster chip",
    "coach praised the team",
    "sunny skies and a warm breeze",
    "simmer the sauce with garlic",
    "the laptop battery lasts all day",
]


def _texts(n: int) -> list[str]:
    return [f"{WORDS[i % len(WORDS)]} and {WORDS[(i * 7 + 3) % len(WORDS)]} (note {i})" for i in range(n)]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    texts, labels = read_labelled(TINY)
    return make_classifier("tfidf").fit(texts, labels).save(tmp_path_factory.mktemp("ray") / "model")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _texts(N_FILES * ROWS_PER_FILE)


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory, texts) -> Path:
    """Three files with ``id``, ``text`` and an unused column; row groups of 300 rows (several chunks)."""
    root = tmp_path_factory.mktemp("parquet_in")
    for f in range(N_FILES):
        part = range(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE)
        table = pa.table(
            {"id": [f"doc-{i}" for i in part], "text": [texts[i] for i in part], "source": ["x"] * len(part)}
        )
        pq.write_table(table, root / f"shard-{f}.parquet", row_group_size=300)
    return root


@pytest.fixture(scope="module")
def jsonl_dir(tmp_path_factory, texts) -> Path:
    """Three JSONL files without an id column (one blank line included)."""
    root = tmp_path_factory.mktemp("jsonl_in")
    for f in range(N_FILES):
        lines = [json.dumps({"body": texts[i]}) for i in range(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE)]
        lines.insert(500, "")
        (root / f"shard-{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _rows(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Every output row, reading the part files in sorted name order."""
    assert list(files) == sorted(files)
    rows: list[dict[str, Any]] = []
    for path in files:
        if path.suffix == ".parquet":
            rows += pq.read_table(path).to_pylist()
        else:
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def _assert_same_predictions(
    ray_rows: list[dict], local_rows: list[dict], model: Path, texts: list[str]
) -> None:
    expected = load(model).predict(texts).tolist()
    assert len(set(expected)) > 1  # the check below could tell a wrong row order from a right one
    assert [r["label"] for r in ray_rows] == expected
    assert [r["label"] for r in local_rows] == expected
    for got, want in zip(ray_rows, local_rows, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-9)


def test_parquet_in_parquet_out_matches_local_engine(cluster, model, parquet_dir, texts, tmp_path):
    local = predict_dataset(model, parquet_dir, tmp_path / "local")
    result = predict_dataset(
        model, str(parquet_dir / "*.parquet"), tmp_path / "ray", engine="ray", concurrency=2, batch_size=128
    )
    assert result.rows == len(texts) and len(result.files) == N_FILES * 4  # 300-row groups: 4 per file
    rows = _rows(result.files)
    assert [r["row"] for r in rows] == list(range(len(texts)))
    assert [r["id"] for r in rows] == [f"doc-{i}" for i in range(len(texts))]
    assert [r["text"] for r in rows] == texts
    assert set(rows[0]) == {"row", "id", "text", "label", "probabilities"}
    _assert_same_predictions(rows, _rows(local.files), model, texts)


def test_jsonl_in_jsonl_out_from_the_command_line(cluster, model, jsonl_dir, texts, tmp_path):
    """Through ``tutorloop predict --engine ray``; input without ids gets the row index only."""
    local = predict_dataset(model, jsonl_dir, tmp_path / "local", output_format="jsonl", text_column="body")
    args = [
        "predict",
        str(model),
        "--input",
        str(jsonl_dir),
        "--engine",
        "ray",
        "--output",
        str(tmp_path / "ray"),
    ]
    args += ["--output-format", "jsonl", "--text-column", "body", "--concurrency", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"Wrote {len(texts)} predictions" in result.stderr
    files = tuple(sorted((tmp_path / "ray").glob("*.jsonl")))
    assert [p.name for p in files] == [f"part-{n:012d}.jsonl" for n in (0, 1000, 2000)]
    rows = _rows(files)
    assert [r["row"] for r in rows] == list(range(len(texts)))
    assert [r["body"] for r in rows] == texts
    assert "id" not in rows[0]
    _assert_same_predictions(rows, _rows(local.files), model, texts)


def _fail_once_loader(marker: str):
    """A loader whose model raises on its first batch (across all actors), marked by creating ``marker``.

    A closure, so Ray pickles it by value (this test module is not importable in the workers).
    """

    def loader(path: str, *, threads: int | None = None) -> Any:
        from tutorloop.classifiers import load

        model = load(path, threads=threads)
        predict_proba = model.predict_proba

        def flaky(texts):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return predict_proba(texts)
            raise RuntimeError("injected failure of one batch")

        model.predict_proba = flaky
        return model

    return loader


def test_failed_block_is_retried_and_output_is_complete(cluster, model, parquet_dir, texts, tmp_path):
    marker = tmp_path / "failed-once"
    result = predict_dataset(
        model,
        parquet_dir,
        tmp_path / "ray",
        engine="ray",
        output_format="jsonl",
        concurrency=1,
        loader=_fail_once_loader(str(marker)),
    )
    assert marker.exists()  # the failure did happen; a swallowed failure would lose its block's rows:
    rows = _rows(result.files)
    assert [r["row"] for r in rows] == list(range(len(texts)))
    expected = load(model).predict(texts).tolist()
    assert [r["label"] for r in rows] == expected


def test_a_bad_row_in_a_later_file_is_a_clean_data_error(cluster, model, jsonl_dir, tmp_path):
    from tutorloop.errors import DataError

    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"text": "fine"}\n', encoding="utf-8")
    (bad / "b.jsonl").write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.jsonl, line 2: invalid JSON") as info:
        predict_dataset(model, bad, tmp_path / "out", engine="ray", concurrency=1, retries=0)
    assert "Traceback" not in str(info.value)
