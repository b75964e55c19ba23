"""length_batches: how the ONNX predictor groups texts by token count before each onnxruntime call."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tutorloop.classifiers.onnx_runtime import length_batches


@given(
    lengths=st.lists(st.integers(1, 300), max_size=200),
    max_texts=st.integers(1, 70),
    max_tokens=st.integers(1, 2000),
)
def test_every_text_once_within_the_limits_and_sorted(lengths, max_texts, max_tokens):
    batches = length_batches(lengths, max_texts, max_tokens)
    flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)  # batches follow token count, shortest first
    for b in batches:
        assert 1 <= len(b) <= max_texts
        width = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * width <= max_tokens  # only a lone text may exceed the budget


@given(lengths=st.lists(st.integers(1, 300), min_size=1, max_size=200), max_texts=st.integers(1, 70))
def test_batches_are_as_full_as_the_limits_allow(lengths, max_texts):
    batches = length_batches(lengths, max_texts, max_tokens=10**9)
    assert [len(b) for b in batches[:-1]] == [max_texts] * (len(batches) - 1)


def test_a_long_text_does_not_pad_the_short_ones():
    lengths = [250] + [10] * 40
    batches = length_batches(lengths, max_texts=64, max_tokens=512)
    assert [len(b) for b in batches] == [40, 1]
    assert batches[-1].tolist() == [0]
