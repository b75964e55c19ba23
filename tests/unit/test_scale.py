"""Batch prediction (``tutorloop.scale``) without a Ray cluster: every bad input is refused with a typed
error before any work starts, and the local engine's output layout (row order, ids, part files)."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from tutorloop.classifiers import make_classifier
from tutorloop.errors import ConfigError, DataError
from tutorloop.scale import predict_dataset
from tutorloop.scale.predict import check_address
from tutorloop.scale.sources import plan_inputs

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    clf = make_classifier("tfidf").fit(
        ["good film", "great movie", "awful plot", "bad acting"], ["pos", "pos", "neg", "neg"]
    )
    return clf.save(tmp_path_factory.mktemp("scale") / "model")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path) -> Path:
    root = tmp_path / "in"
    _jsonl(root / "a.jsonl", [{"id": i, "text": f"great movie {i}"} for i in range(5)])
    _jsonl(root / "b.jsonl", [{"id": 5 + i, "text": f"awful plot {i}"} for i in range(4)])
    return root


def _never_load(*args, **kwargs):
    raise AssertionError("the model was loaded although a check should have failed first")


def _no_ray(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- every bad input fails before any work starts -------------------------------------------------------


def test_missing_ray_names_the_extra(model, inputs, tmp_path, monkeypatch):
    _no_ray(monkeypatch)
    with pytest.raises(ConfigError, match=r'pip install "tutorloop\[ray\]"'):
        predict_dataset(model, inputs, tmp_path / "out", engine="ray", loader=_never_load)
    assert not (tmp_path / "out").exists()


def test_unreachable_address_fails_fast(model, inputs, tmp_path):
    pytest.importorskip("ray", reason="the address is checked after Ray is found")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="Cannot reach a Ray cluster at 127.0.0.1:"):
        predict_dataset(
            model,
            inputs,
            tmp_path / "out",
            engine="ray",
            address=f"127.0.0.1:{_closed_port()}",
            loader=_never_load,
        )
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("address", ["head-node", "ray://:10001", "host:port"])
def test_malformed_address(address):
    with pytest.raises(ConfigError, match="must look like HOST:PORT"):
        check_address(address)


def test_unreachable_address_with_ray_client_scheme():
    with pytest.raises(ConfigError, match="Cannot reach"):
        check_address(f"ray://127.0.0.1:{_closed_port()}", timeout=2)


@pytest.mark.parametrize(
    ("spec", "extra_file", "message"),
    [
        ("in/*.parquet", None, "The pattern 'in/\\*.parquet' matches no .parquet or .jsonl files"),
        ("empty", None, "The folder empty matches no .parquet or .jsonl files"),
        ("nowhere", None, "nowhere does not exist"),
        ("in", "c.parquet", "mixes Parquet and JSONL"),
        ("in/*", "notes.csv", "matches .csv files; batch prediction reads .parquet or .jsonl only"),
    ],
)
def test_inputs_that_match_nothing_usable(model, inputs, tmp_path, monkeypatch, spec, extra_file, message):
    (tmp_path / "empty").mkdir()
    if extra_file == "c.parquet":
        pq.write_table(pa.table({"text": ["x"]}), inputs / extra_file)
    elif extra_file:
        (inputs / extra_file).write_text("text\nhello\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=message):
        predict_dataset(model, spec, tmp_path / "out", loader=_never_load)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_missing_text_column_names_the_columns(model, tmp_path, fmt):
    root = tmp_path / "in"
    root.mkdir()
    if fmt == "jsonl":
        _jsonl(root / "a.jsonl", [{"body": "great", "id": 1}])
    else:
        pq.write_table(pa.table({"body": ["great"], "id": [1]}), root / "a.parquet")
    with pytest.raises(DataError, match=r"no column 'text' \(columns: body, id\).*--text-column"):
        predict_dataset(model, root, tmp_path / "out", loader=_never_load)


def test_explicit_id_column_must_exist(model, inputs, tmp_path):
    with pytest.raises(DataError, match="no id column 'doc_id'"):
        predict_dataset(model, inputs, tmp_path / "out", id_column="doc_id", loader=_never_load)


def test_a_folder_that_is_no_model_is_refused(inputs, tmp_path):
    from tutorloop.errors import ArtifactError

    with pytest.raises(ArtifactError):
        predict_dataset(tmp_path / "no-model", inputs, tmp_path / "out", loader=_never_load)
    assert not (tmp_path / "out").exists()


def test_output_with_results_is_refused_unless_overwrite(model, inputs, tmp_path):
    out = tmp_path / "out"
    first = predict_dataset(model, inputs, out, rows_per_chunk=4)
    old = {p.name: p.read_bytes() for p in first.files}
    with pytest.raises(ConfigError, match="already holds 3 result file.*--overwrite"):
        predict_dataset(model, inputs, out, output_format="jsonl", loader=_never_load)
    assert {p.name: p.read_bytes() for p in first.files} == old  # untouched
    second = predict_dataset(model, inputs, out, output_format="jsonl", overwrite=True)
    names = ["part-000000000000.jsonl", "part-000000000005.jsonl"]  # one part per input file here
    assert [p.name for p in second.files] == names
    assert sorted(p.name for p in out.iterdir()) == names  # the old parquet parts are gone


def test_a_later_check_leaves_old_results_alone(model, inputs, tmp_path):
    out = tmp_path / "out"
    predict_dataset(model, inputs, out)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(DataError, match="no column 'body'"):
        predict_dataset(model, inputs, out, text_column="body", overwrite=True, loader=_never_load)
    assert sorted(p.name for p in out.iterdir()) == before


def test_output_that_holds_the_inputs_is_refused(model, inputs):
    with pytest.raises(ConfigError, match="holds input files"):
        predict_dataset(model, str(inputs / "*.jsonl"), inputs, overwrite=True, loader=_never_load)
    assert (inputs / "a.jsonl").exists()


def test_bad_options(model, inputs, tmp_path):
    with pytest.raises(ConfigError, match="Unknown engine 'spark'"):
        predict_dataset(model, inputs, tmp_path / "o", engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Unknown output format 'csv'"):
        predict_dataset(model, inputs, tmp_path / "o", output_format="csv")
    with pytest.raises(ConfigError, match="batch_size must be a positive int. Got 0"):
        predict_dataset(model, inputs, tmp_path / "o", batch_size=0)
    with pytest.raises(ConfigError, match="apply to engine='ray' only"):
        predict_dataset(model, inputs, tmp_path / "o", address="auto")
    assert not (tmp_path / "o").exists()


# --- the local engine's output ---------------------------------------------------------------------------


def test_local_engine_keeps_order_and_ids_across_files_and_chunks(model, inputs, tmp_path):
    result = predict_dataset(
        model, inputs, tmp_path / "out", output_format="jsonl", rows_per_chunk=2, batch_size=1
    )
    assert [p.name for p in result.files] == [f"part-{n:012d}.jsonl" for n in (0, 2, 4, 5, 7)]
    rows = [json.loads(line) for p in result.files for line in p.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(9)) and [r["id"] for r in rows] == list(range(9))
    assert [r["label"] for r in rows] == ["pos"] * 5 + ["neg"] * 4
    assert set(rows[0]["probabilities"]) == {"neg", "pos"}
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)


def test_plan_counts_rows_without_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n  \n{"text": "c"}\n')
    plan = plan_inputs(path, rows_per_chunk=2)
    assert plan.num_rows == 3 and [(c.first_row, c.first_line) for c in plan.chunks] == [(0, 1), (2, 5)]
