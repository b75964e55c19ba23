"""evaluate(): accuracy, macro-F1, per-class scores, confusion matrix, top confusions."""

from __future__ import annotations

import math

import pytest
from sklearn.metrics import f1_score

from tutorloop.evaluation.metrics import confusion_matrix, evaluate


def test_matches_sklearn_macro_f1():
    y_true = ["a", "a", "b", "b", "c", "c", "c"]
    y_pred = ["a", "b", "b", "b", "c", "a", "c"]
    r = evaluate(y_true, y_pred, ["a", "b", "c"])
    assert r["n"] == 7
    assert r["accuracy"] == pytest.approx(5 / 7)
    assert r["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert r["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}


def test_confusion_in_label_order_and_top_pairs():
    y_true = ["x", "x", "x", "y", "z"]
    y_pred = ["y", "y", "z", "y", "z"]
    assert confusion_matrix(y_true, y_pred, ["z", "y", "x"]) == [[1, 0, 0], [0, 1, 0], [1, 2, 0]]
    r = evaluate(y_true, y_pred, ["x", "y", "z"])
    assert r["confusion"] == [[0, 2, 1], [0, 1, 0], [0, 0, 1]]
    assert r["top_confusions"] == [("x", "y", 2), ("x", "z", 1)]


def test_log_loss_from_proba():
    r = evaluate(["a", "b"], ["a", "a"], ["a", "b"], proba=[[0.9, 0.1], [0.6, 0.4]])
    assert r["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)


def test_macro_f1_ignores_labels_absent_from_both_sides():
    r = evaluate(["a", "b"], ["a", "b"], ["a", "b", "never"])
    assert r["macro_f1"] == 1.0
    assert r["per_class"]["never"]["support"] == 0


def test_length_mismatch():
    with pytest.raises(ValueError, match="y_pred has 1"):
        evaluate(["a", "b"], ["a"], ["a", "b"])
