"""One contract, every kind: the scikit-learn estimator contract on lists of strings, plus save/load.

The ``kind`` fixture (conftest) runs each test for every registered kind and skips kinds whose extra is
not installed, so a new kind is held to this contract as soon as it is registered.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.base import clone

from tutorloop.classifiers import load, make_classifier
from tutorloop.errors import DataError, NotTrainedError


@pytest.fixture
def held_texts(held_out) -> list[str]:
    return [t for t, _ in held_out]


def test_fit_returns_self_and_sets_classes(kind, fitted, tiny):
    clf = fitted(kind)  # trained once per session: fresh SetFit/embed fits cost seconds each
    assert fitted.returned[kind] is clf
    assert clf.classes_.tolist() == sorted(set(tiny[1]))
    assert all(isinstance(c, str) for c in clf.classes_)


def test_fitted_state(kind, fitted):
    clf = fitted(kind)
    assert clf.classes_.tolist() == ["cooking", "sports", "tech", "weather"]
    assert clf.n_train_ == 40
    assert clf.label_counts_ == {"cooking": 10, "sports": 10, "tech": 10, "weather": 10}
    assert clf.data_hash_.startswith("sha256:")


def _check_proba(model, held_out) -> np.ndarray:
    """Rows are distributions, column j is ``classes_[j]`` (the gold label's column wins on clear-cut
    texts) and ``predict`` is the argmax."""
    texts, gold = [t for t, _ in held_out], [lab for _, lab in held_out]
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), len(model.classes_))
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    top = model.classes_[proba.argmax(axis=1)].tolist()
    assert np.mean([t == g for t, g in zip(top, gold, strict=True)]) >= 0.75, list(
        zip(texts, top, strict=True)
    )
    assert model.predict(texts).tolist() == top
    return proba


def test_proba_rows_sum_to_one_and_columns_follow_classes(kind, fitted, saved, held_out):
    _check_proba(fitted(kind), held_out)
    _check_proba(load(saved(kind)), held_out)


def test_learns_a_simple_separable_task(kind, fitted, held_out, held_texts):
    pred = fitted(kind).predict(held_texts)
    accuracy = np.mean(pred == np.array([lab for _, lab in held_out], dtype=object))
    assert accuracy >= 0.75, list(zip(held_texts, pred, strict=True))


def test_get_params_round_trip_and_clone(kind, fitted, fast_params):
    clf = fitted(kind)
    params = clf.get_params()
    assert params == make_classifier(kind, **fast_params.get(kind, {})).get_params()
    twin = clone(clf)
    assert twin.get_params() == params
    assert not hasattr(twin, "classes_")
    key = "C" if "C" in params else "seed"
    twin.set_params(**{key: 3})
    assert twin.get_params()[key] == 3 and clf.get_params()[key] == params[key]


def test_predict_before_fit_raises_not_trained(kind):
    clf = make_classifier(kind)
    with pytest.raises(NotTrainedError, match="call fit"):
        clf.predict(["hello"])
    with pytest.raises(ValueError):  # NotTrainedError is also a ValueError, like sklearn's NotFittedError
        clf.predict_proba(["hello"])


def test_one_class_is_a_clear_error(kind):
    with pytest.raises(DataError, match="only one class"):
        make_classifier(kind).fit(["a", "b", "c"], ["x", "x", "x"])


@pytest.mark.parametrize(
    "texts,labels,message",
    [
        (["good", "  "], ["a", "b"], "empty"),
        (["good", "bad"], ["a"], "one label per text"),
        ([], [], "No training texts"),
        (["good", 3], ["a", "b"], "must be a string"),
        ("good", ["a"], "single string"),
    ],
)
def test_bad_training_input(kind, texts, labels, message):
    with pytest.raises(DataError, match=message):
        make_classifier(kind).fit(texts, labels)


def test_empty_text_at_predict(kind, fitted):
    with pytest.raises(DataError, match="empty"):
        fitted(kind).predict(["fine", ""])


def test_one_megabyte_text_is_truncated_quickly(kind, fitted, saved):
    big = "rain and snow tomorrow " * 45_000  # ~1 MB
    assert len(big) > 1_000_000
    model = load(saved(kind))
    max_chars = model.manifest["truncation"]["max_chars"]
    assert 0 < max_chars < 100_000
    for m in (fitted(kind), model):
        start = time.perf_counter()
        proba = m.predict_proba([big, "short text"])
        assert time.perf_counter() - start < 10
        assert proba.shape == (2, 4)
        # only the first max_chars characters count (one text per call: int8 ONNX quantises per batch)
        np.testing.assert_allclose(m.predict_proba([big]), m.predict_proba([big[:max_chars]]), atol=1e-6)


def test_save_load_round_trip(kind, fitted, saved, held_texts):
    clf, path = fitted(kind), saved(kind)
    model = load(path)
    assert model.kind == kind
    assert model.classes_.tolist() == clf.classes_.tolist()
    manifest = model.manifest
    assert manifest["kind"] == kind
    assert manifest["params"] == clf.get_params()
    assert manifest["labels"] == clf.classes_.tolist()
    assert manifest["metrics"] == {"accuracy": 1.0}
    assert manifest["training"]["data_hash"] == clf.data_hash_
    assert manifest["training"]["label_counts"]["tech"] == 10
    assert manifest["truncation"]
    assert (path / "README.md").read_text().count("| 10 |") == 4
    ours, theirs = clf.predict_proba(held_texts), model.predict_proba(held_texts)
    if kind in ("tfidf", "static"):  # the same arithmetic on the same numbers
        np.testing.assert_array_equal(ours, theirs)
    else:  # ONNX int8 against torch fp32: same decisions, close probabilities
        assert np.mean(ours.argmax(1) == theirs.argmax(1)) >= 0.85
        assert np.abs(ours - theirs).max() < 0.1
    assert model.predict(held_texts).tolist() == model.classes_[theirs.argmax(1)].tolist()


def test_loaded_model_does_not_need_torch(kind, saved):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'sentence_transformers', 'setfit', 'transformers',\n"
        "                                   'model2vec', 'skeletoken'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import tutorloop\n"
        f"m = tutorloop.load({str(saved(kind))!r}, threads=1)\n"
        "print(m.predict(['It will snow tomorrow'])[0])\n"
        "assert not {'torch', 'model2vec', 'transformers'} & set(sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in {"cooking", "sports", "tech", "weather"}
