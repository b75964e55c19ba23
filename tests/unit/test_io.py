"""read_labelled / iter_texts / write_jsonl over JSONL, CSV, Parquet and text files, with clear errors."""

from __future__ import annotations

import json

import pytest

from tutorloop.data.io import iter_texts, read_labelled, write_jsonl
from tutorloop.errors import DataError

ROWS = [{"text": "héllo, world", "label": "greet"}, {"text": 'say "bye"\nnow', "label": "farewell"}]


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "d.jsonl"
    assert write_jsonl(path, ROWS) == 2
    assert read_labelled(path) == (["héllo, world", 'say "bye"\nnow'], ["greet", "farewell"])


def test_csv_with_quotes_and_newlines(tmp_path):
    import csv

    path = tmp_path / "d.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["body", "cat"])
        w.writeheader()
        w.writerows({"body": r["text"], "cat": r["label"]} for r in ROWS)
    assert read_labelled(path, "body", "cat") == (["héllo, world", 'say "bye"\nnow'], ["greet", "farewell"])


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    assert read_labelled(path)[1] == ["greet", "farewell"]
    assert list(iter_texts(path, batch_size=1)) == [["héllo, world"], ['say "bye"\nnow']]
    with pytest.raises(DataError, match="no column 'label2'"):
        read_labelled(path, label_column="label2")


def test_missing_column_names_line_and_fix(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"text": "a", "label": "x"}) + "\n" + json.dumps({"txt": "b", "label": "y"}) + "\n"
    )
    with pytest.raises(DataError, match=r"line 2: no column 'text' \(columns: label, txt\).*--text-column"):
        read_labelled(path)


def test_empty_file(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n")
    with pytest.raises(DataError, match="has no rows"):
        read_labelled(path)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n')
    with pytest.raises(DataError, match="line 2: not valid UTF-8"):
        read_labelled(path)
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(b"text,label\nok,a\nbad \xff,b\n")
    with pytest.raises(DataError, match="line 3: not valid UTF-8"):
        read_labelled(csv_path)


def test_empty_text_and_bad_json(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "  ", "label": "a"}\n')
    with pytest.raises(DataError, match="line 1: 'text' is empty"):
        read_labelled(path)
    path.write_text('{"text": "x", "label": "a"}\n{oops\n')
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        read_labelled(path)


def test_unsupported_and_missing(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_labelled(tmp_path / "nope.jsonl")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        read_labelled(tmp_path / "d.xlsx")


def test_iter_texts_streams_in_batches(tmp_path):
    txt = tmp_path / "t.txt"
    txt.write_text("one\n\ntwo\r\nthree\n")
    assert list(iter_texts(txt, batch_size=2)) == [["one", "two"], ["three"]]
    big = tmp_path / "big.jsonl"
    write_jsonl(big, ({"text": f"t{i}"} for i in range(1001)))
    gen = iter_texts(big, batch_size=100)
    first = next(gen)  # a generator: the file is read lazily, batch by batch
    assert first[0] == "t0" and len(first) == 100
    assert sum(len(b) for b in gen) == 901
