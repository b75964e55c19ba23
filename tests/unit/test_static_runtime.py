"""The static kind's predict path (numpy + tokenizers) on a hand-made four-word table: no model needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="static models load with tokenizers (tutorloop[infer])")

from tutorloop.classifiers.static_runtime import StaticEncoder, StaticPredictor  # noqa: E402
from tutorloop.errors import ArtifactError  # noqa: E402

VOCAB = {"[UNK]": 0, "good": 1, "bad": 2, "film": 3, "plot": 4}
TABLE = np.array([[9, 9, 9], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float16)


def _write(folder: Path, table: np.ndarray = TABLE) -> Path:
    tokenizer = {
        "version": "1.0",
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "padding": {
            "strategy": {"Fixed": 8},
            "direction": "Right",
            "pad_to_multiple_of": None,
            "pad_id": 4,
            "pad_type_id": 0,
            "pad_token": "plot",
        },
        "model": {"type": "WordLevel", "vocab": VOCAB, "unk_token": "[UNK]"},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    np.save(folder / "vectors.npy", table, allow_pickle=False)
    return folder


def _encoder(folder: Path, **kw) -> StaticEncoder:
    kw = {"max_seq_length": 512, "max_chars": 1000} | kw
    return StaticEncoder(folder / "vectors.npy", folder / "tokenizer.json", **kw)


def _unit(v: list[float]) -> np.ndarray:
    return np.asarray(v) / np.linalg.norm(v)


def test_mean_of_known_tokens_normalised_and_padding_ignored(tmp_path):
    enc = _encoder(_write(tmp_path))  # the file pads to 8 with "plot": must not count
    got = enc.encode(["Good film", "good zzz film zzz", "bad", "zzz qqq"])
    np.testing.assert_allclose(got[0], _unit([1, 0, 1]), atol=1e-6)
    np.testing.assert_allclose(got[1], got[0], atol=1e-6)
    np.testing.assert_allclose(got[2], [0, 1, 0], atol=1e-6)
    assert got.dtype == np.float32 and not got[3].any()


def test_truncation_counts_known_tokens_and_characters(tmp_path):
    enc = _encoder(_write(tmp_path), max_seq_length=2)
    np.testing.assert_allclose(enc.encode(["zzz good zzz bad film"])[0], _unit([1, 1, 0]), atol=1e-6)
    short = _encoder(tmp_path, max_chars=9)
    np.testing.assert_allclose(short.encode(["good film plot"])[0], _unit([1, 0, 1]), atol=1e-6)


def test_batches_do_not_change_results(tmp_path):
    texts = ["good", "zzz", "bad film plot", "plot", "zzz zzz", "good bad", "film"] * 5
    one = _encoder(_write(tmp_path), batch_size=1).encode(texts)
    many = _encoder(tmp_path, batch_size=1024).encode(texts)
    some = _encoder(tmp_path, batch_size=3).encode(texts)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, some)
    assert _encoder(tmp_path).encode([]).shape == (0, 3)


def test_a_table_that_does_not_fit_the_tokenizer_is_refused(tmp_path):
    _write(tmp_path, TABLE[:4])
    with pytest.raises(ArtifactError, match="do not belong together"):
        _encoder(tmp_path)


def test_a_pickled_table_is_not_loaded(tmp_path):
    _write(tmp_path)
    np.save(tmp_path / "vectors.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArtifactError, match="may be corrupt"):
        _encoder(tmp_path)


def _manifest() -> dict:
    return {"kind": "static", "labels": ["neg", "pos"], "truncation": {"max_seq_length": 8, "max_chars": 100}}


def test_predictor_applies_the_head(tmp_path):
    _write(tmp_path)
    (tmp_path / "head.json").write_text(json.dumps({"coef": [[5.0, -5.0, 0.0]], "intercept": [0.0]}))
    model = StaticPredictor(_manifest(), tmp_path)
    assert model.predict(["good film", "bad plot", "bad"]).tolist() == ["pos", "neg", "neg"]
    np.testing.assert_allclose(model.predict_proba(["zzz"]), [[0.5, 0.5]])


def test_predictor_refuses_a_head_of_another_width(tmp_path):
    _write(tmp_path)
    (tmp_path / "head.json").write_text(json.dumps({"coef": [[1.0, 2.0]], "intercept": [0.0]}))
    with pytest.raises(ArtifactError, match="expects 2-dim embeddings"):
        StaticPredictor(_manifest(), tmp_path)


def test_a_column_major_table_gives_the_same_vectors_from_contiguous_rows(tmp_path):
    """model2vec's PCA leaves its table column-major; read as it is, each lookup strode the whole table and
    scipy copied all of it per call (45 ms instead of 0.3 ms for one text on the real 30k-token table)."""
    texts = ["good film", "bad plot plot", "zzz"]
    expected = _encoder(_write(tmp_path)).encode(texts)
    np.save(tmp_path / "vectors.npy", np.asfortranarray(TABLE), allow_pickle=False)
    enc = _encoder(tmp_path)
    assert np.load(tmp_path / "vectors.npy").flags.f_contiguous and enc._table.flags.c_contiguous
    np.testing.assert_array_equal(enc.encode(texts), expected)
