"""The ONNX predictor's batching (token-count buckets, each padded to its own longest text) changes
nothing but the speed: every text gets the embedding it gets alone, in the order given."""

from __future__ import annotations

import os
import random
import select
import signal
import threading
import time

import numpy as np
import pytest

from tutorloop.classifiers import load, make_classifier

# Mixed lengths whose character order differs from their token order (long words are few tokens).
TEXTS = [
    "snow",
    "a b c d e f g h i j k l",
    "internationalization",
    "Bake the cake for forty minutes, then let it cool on a rack before you slice it.",
    "The midfielder scored a stunning goal in the match",
    "ok",
    "Sunny skies with warm temperatures tomorrow and a light breeze from the west " * 6,
    "The laptop update fixed the wifi bug",
    "rain",
    "Fry the garlic in butter",
]


@pytest.fixture(scope="module")
def fp32_model(require_kind, tiny, tmp_path_factory):
    """An embed model saved with an fp32 encoder: no per-batch int8 quantisation, so a text's
    embedding must not depend on its batch neighbours or their padding."""
    require_kind("embed")
    clf = make_classifier("embed", quantize=False).fit(*tiny)
    return clf, clf.save(tmp_path_factory.mktemp("embed-fp32") / "model")


def _shuffled(seed: int) -> list[str]:
    texts = TEXTS * 3 + ["The team lost the game after extra time"]
    random.Random(seed).shuffle(texts)
    return texts


@pytest.mark.parametrize("batch_size,batch_tokens", [(64, 512), (3, 40), (1, 1), (64, 10**6)])
def test_batched_equals_one_at_a_time_in_the_given_order(fp32_model, batch_size, batch_tokens):
    clf, path = fp32_model
    model = load(path, threads=1, batch_size=batch_size)
    model.encoder.batch_tokens = batch_tokens
    texts = _shuffled(batch_size)
    alone = np.stack([model.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(model.predict_proba(texts), alone, atol=1e-5)
    # and the ONNX encoder reproduces the in-memory torch model it was exported from
    np.testing.assert_allclose(model.predict_proba(texts), clf.predict_proba(texts), atol=1e-4)


def test_batches_are_token_buckets_padded_to_their_longest(fp32_model):
    _, path = fp32_model
    model = load(path, threads=1, batch_size=3)
    session, shapes = model.encoder.session, []

    class Spy:
        def run(self, names, feeds):
            shapes.append(feeds["attention_mask"].sum(axis=1).tolist())
            assert feeds["input_ids"].shape[1] == max(shapes[-1])  # padded to this batch's longest
            return session.run(names, feeds)

    model.encoder.session = Spy()
    texts = [t for t in TEXTS for _ in range(3)]  # three of each length: buckets of exactly one length
    random.Random(0).shuffle(texts)
    model.predict_proba(texts)
    assert all(len(set(lengths)) == 1 for lengths in shapes), shapes
    assert [s[0] for s in shapes] == sorted(s[0] for s in shapes)


def test_int8_batching_keeps_the_decisions(saved, require_kind, held_out):
    """int8 quantises each batch's activations with one scale, so batch neighbours move a text's
    probabilities a little; the decisions on clear texts stay the same."""
    require_kind("embed")
    model = load(saved("embed"), threads=1)
    texts = [t for t, _ in held_out] + TEXTS
    alone = np.stack([model.predict_proba([t])[0] for t in texts])
    batched = model.predict_proba(texts)
    assert np.abs(batched - alone).max() < 0.05
    assert batched[: len(held_out)].argmax(1).tolist() == alone[: len(held_out)].argmax(1).tolist()


def test_threads_run_batches_at_once_each_on_one_onnxruntime_thread(fp32_model):
    """``threads`` batches run concurrently, each session call on one thread (no intra-op pool to spin or
    stall on a shared CPU); the result is the same as one batch at a time, in the given order."""
    _, path = fp32_model
    model = load(path, threads=3, batch_size=2)
    assert model.encoder.session.get_session_options().intra_op_num_threads == 1
    session, active, most = model.encoder.session, [0], [0]
    lock = threading.Lock()

    class Counting:
        def run(self, names, feeds):
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            try:
                time.sleep(0.05)  # hold the call open so concurrent ones overlap
                return session.run(names, feeds)
            finally:
                with lock:
                    active[0] -= 1

    texts = _shuffled(3)
    model.encoder.session = Counting()
    together = model.predict_proba(texts)
    assert most[0] == 3
    model.encoder.session, model.encoder.threads = session, 1
    np.testing.assert_allclose(together, model.predict_proba(texts), atol=1e-6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_encodes_with_threads_of_its_own(fp32_model):
    """A process forked after the batch threads started (a pre-forking server, multiprocessing) has none
    of them; it must start its own rather than wait on the parent's forever."""
    _, path = fp32_model
    model = load(path, threads=2, batch_size=2)
    texts = _shuffled(4)
    expected = model.predict_proba(texts)  # starts the parent's threads
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: predict, report, and leave without running pytest's teardown
        ok = False
        try:
            ok = bool(np.allclose(model.predict_proba(texts), expected, atol=1e-6))
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        assert ready, "the forked child did not finish encoding within 60 s"
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still running: it hung
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
