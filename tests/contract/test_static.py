"""The static kind beyond the shared contract: its distillation cache, agreement with model2vec's own
encoder, sample weights, parameters and the missing-extra hint.

The models here are distilled from the first few thousand tokens of the packaged encoder's vocabulary
(seconds, not the minutes of the full vocabulary), once per session into the session's TUTORLOOP_HOME.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tutorloop.classifiers import load, make_classifier
from tutorloop.classifiers import static as static_mod
from tutorloop.errors import ConfigError


@pytest.fixture
def vocab(fast_params) -> int:
    """The contract suite's test-sized vocabulary, so these tests reuse its distillation."""
    return int(fast_params["static"]["vocab_limit"])


def test_distillation_is_cached_per_machine(fitted, vocab, monkeypatch):
    clf = fitted("static")
    folder = static_mod.distilled(None, pca_dims=256, vocab_limit=vocab)
    assert sorted(p.name for p in folder.iterdir()) == ["distill.json", "tokenizer.json", "vectors.npy"]
    assert json.loads((folder / "distill.json").read_text())["vocab_limit"] == vocab
    monkeypatch.setattr(static_mod, "_distill", lambda *a, **k: pytest.fail("distilled the same model again"))
    again = make_classifier("static", vocab_limit=vocab).fit(["snow", "rain", "goal", "match"], list("wwss"))
    np.testing.assert_array_equal(again.static_.vectors, clf.static_.vectors)


def test_first_distillation_prints_progress_and_writes_the_table(require_kind, tmp_path, monkeypatch, capfd):
    require_kind("static")
    monkeypatch.setenv("TUTORLOOP_HOME", str(tmp_path))
    folder = static_mod.distilled(None, pca_dims=16, vocab_limit=1200)
    err = capfd.readouterr().err
    assert "distilling a static model from all-MiniLM-L6-v2" in err and str(tmp_path / "static") in err
    assert "tutorloop: distilled " in err
    assert folder.parent == tmp_path / "static"
    vectors = np.load(folder / "vectors.npy", allow_pickle=False)
    info = json.loads((folder / "distill.json").read_text())
    assert vectors.dtype == np.float16 and vectors.shape == (info["vocab_size"], 16)
    assert 1000 < len(vectors) < 3000  # the first 1200 ids less BERT's unused ones, plus one-character tokens
    assert static_mod.distilled(None, pca_dims=16, vocab_limit=1200) == folder
    assert "distilling" not in capfd.readouterr().err
    assert not list((tmp_path / "static").glob("*.tmp-*"))


def test_embeddings_match_model2vec_encode(saved, require_kind):
    """Our numpy encoder computes what model2vec's StaticModel.encode computes on the same table, except
    that we never pad (model2vec 0.8.0 keeps the teacher tokenizer's padding to 128 and averages [PAD] in)."""
    require_kind("static")
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    model = load(saved("static"))
    tokenizer = Tokenizer.from_file(str(model.path / "tokenizer.json"))
    tokenizer.no_padding()
    reference = StaticModel(
        vectors=np.load(model.path / "vectors.npy", allow_pickle=False), tokenizer=tokenizer, normalize=True
    )
    texts = [
        "It will snow tomorrow",
        "The midfielder scored a stunning goal in the match!",
        "東京 and 😀 with some words",
        "😀",  # only an unknown token: a zero vector for both
        "rain and snow " * 300,  # 900 tokens: both keep the first 512
    ]
    ours = model.encoder.encode(texts)
    theirs = reference.encode(texts, max_length=512)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    assert not ours[3].any()
    np.testing.assert_allclose(np.linalg.norm(ours[[0, 1, 2, 4]], axis=1), 1.0, atol=1e-5)


def test_sample_weight_decides_between_conflicting_examples(require_kind, vocab):
    require_kind("static")
    texts = ["great film", "great film", "awful film", "lovely plot", "dull plot"]
    labels = ["pos", "neg", "neg", "pos", "neg"]
    params = {"vocab_limit": vocab}
    heavy_pos = make_classifier("static", **params).fit(texts, labels, sample_weight=[20, 1, 1, 1, 1])
    heavy_neg = make_classifier("static", **params).fit(texts, labels, sample_weight=[1, 20, 1, 1, 1])
    assert heavy_pos.predict(["great film"])[0] == "pos" and heavy_neg.predict(["great film"])[0] == "neg"


@pytest.mark.parametrize(
    "params,message",
    [
        ({"pca_dims": 0}, "'pca_dims' parameter of StaticClassifier must be an int >= 2. Got 0"),
        ({"vocab_limit": "all"}, "'vocab_limit' .* must be None or an int >= 1. Got 'all'"),
        ({"max_seq_length": 1.5}, "'max_seq_length' .* must be an int >= 1"),
    ],
)
def test_bad_parameters_are_config_errors(require_kind, params, message):
    require_kind("static")
    with pytest.raises(ConfigError, match=message):
        make_classifier("static", **params).fit(["a b", "c d"], ["x", "y"])


def test_missing_extra_names_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "model2vec", None)  # import model2vec -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "tutorloop\[static\]"'):
        make_classifier("static")


def test_unknown_kind_suggests_static():
    with pytest.raises(ConfigError, match="Did you mean 'static'"):
        make_classifier("statik")
