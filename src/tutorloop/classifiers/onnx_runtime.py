"""Inference for exported encoders: onnxruntime + tokenizers + numpy only (no torch).

:class:`OnnxEncoder` turns texts into L2-normalised sentence embeddings with an ONNX transformer body,
a ``tokenizers`` tokenizer and numpy pooling; :class:`OnnxPredictor` adds the logistic-regression head
stored in ``head.json``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import ArtifactError, ConfigError
from .head import head_proba, read_head
from .predictors import Predictor

ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
CHUNK = 4096  # texts tokenised and length-sorted together
BATCH_TOKENS = 512  # padded tokens per ONNX call: see benchmarks/onnx_batching.py
T = TypeVar("T")


def _require_runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime as ort
        import tokenizers
    except ImportError as exc:
        raise ConfigError(
            f"Loading embed/setfit models needs onnxruntime and tokenizers ({exc}). "
            'Install them with: pip install "tutorloop[infer]"'
        ) from exc
    return ort, tokenizers


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool token vectors ``(B, T, H)`` to sentence vectors ``(B, H)`` and L2-normalise them."""
    m = mask[..., None].astype(np.float32)
    if mode == "mean":
        out = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    elif mode == "cls":
        out = hidden[:, 0]
    elif mode == "max":
        out = np.where(m > 0, hidden, -1e9).max(axis=1)
    else:
        raise ArtifactError(f"Unknown pooling mode {mode!r}; expected mean, cls or max.")
    return normalize(out)


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def length_batches(lengths: list[int], max_texts: int, max_tokens: int) -> list[np.ndarray]:
    """Indices into ``lengths`` grouped into batches of similar length: sorted by length (stably), each
    batch at most ``max_texts`` long and, padded to its longest text, at most ``max_tokens`` tokens (a
    text longer than that gets a batch of its own). Every index appears exactly once.

    >>> [b.tolist() for b in length_batches([5, 1, 9, 2, 1], max_texts=2, max_tokens=100)]
    [[1, 4], [3, 0], [2]]
    >>> [b.tolist() for b in length_batches([3, 3, 3, 50], max_texts=64, max_tokens=8)]
    [[0, 1], [2], [3]]
    """
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    out, start = [], 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < max_texts
            and (end - start + 1) * lengths[order[end]] <= max_tokens
        ):
            end += 1
        out.append(order[start:end])
        start = end
    return out


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class OnnxEncoder:
    """Sentence embeddings from an exported encoder directory.

    Args:
        model_path: the ONNX file (outputs ``last_hidden_state``).
        tokenizer_path: ``tokenizer.json``.
        max_seq_length: tokens kept per text (longer texts are truncated).
        max_chars: characters kept before tokenising, so a 1 MB text costs no more than a short one.
        pooling: ``mean``, ``cls`` or ``max``.
        pad_id: the token id batches are padded with.
        threads: batches encoded at once, each by one onnxruntime thread (``None``: one per CPU this
            process may use). A single batch (one short text, say) runs on one thread.
        batch_size: most texts per ONNX call.
        batch_tokens: most padded tokens per ONNX call (a longer text still goes alone).
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        max_seq_length: int,
        max_chars: int,
        pooling: str = "mean",
        pad_id: int = 0,
        threads: int | None = None,
        batch_size: int = 64,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        ort, tokenizers = _require_runtime()
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
            # One thread per onnxruntime call, and up to ``threads`` calls at once on different batches:
            # no thread waits for another inside an operator, so nothing spins or stalls when the CPU is
            # shared, and a free CPU gets ~2x from two (benchmarks/onnx_batching.py).
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ArtifactError(
                f"Could not load the encoder {model_path} ({exc}); the file may be corrupt."
            ) from exc
        self.tokenizer.enable_truncation(max_length=int(max_seq_length))
        self.tokenizer.no_padding()  # each batch is padded in encode(), to its own longest text
        self.pad_id = int(pad_id)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.max_chars = int(max_chars)
        self.pooling = pooling
        self.batch_size = int(batch_size)
        self.batch_tokens = int(batch_tokens)
        self.threads = int(threads) if threads else _usable_cpus()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text, in the order given.

        Texts are tokenised once (``CHUNK`` at a time, bounding memory), sorted by token count and run in
        batches (:func:`length_batches`) padded to the batch's own longest text, so short texts do not pay
        for a long one, and a batch stays small enough for the CPU's caches.
        """
        out: np.ndarray | None = None
        for start in range(0, len(texts), CHUNK):
            encs = self.tokenizer.encode_batch([t[: self.max_chars] for t in texts[start : start + CHUNK]])
            ids = [e.ids for e in encs]
            batches = length_batches([len(x) for x in ids], self.batch_size, self.batch_tokens)

            def run(idx: np.ndarray, ids: list[list[int]] = ids, encs: list[Any] = encs) -> np.ndarray:
                return self._run([ids[i] for i in idx], [encs[i].type_ids for i in idx])

            for idx, vecs in zip(batches, self._map(run, batches), strict=True):
                if out is None:
                    out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
                out[start + idx] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _map(self, fn: Callable[[np.ndarray], T], batches: list[np.ndarray]) -> Iterator[T]:
        """``fn`` over ``batches`` in order, up to ``threads`` at once (onnxruntime releases the GIL)."""
        if self.threads < 2 or len(batches) < 2:
            return map(fn, batches)
        if self._executor is None or self._executor_pid != os.getpid():  # a forked child has no threads
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="tutorloop-onnx")
            self._executor_pid = os.getpid()
            weakref.finalize(self, self._executor.shutdown, wait=False)
        return self._executor.map(fn, batches)

    def _run(self, ids: list[list[int]], type_ids: list[list[int]]) -> np.ndarray:
        """Embeddings of one batch of token ids, right-padded to its longest row."""
        width = max(len(x) for x in ids)
        feeds = {
            "input_ids": np.full((len(ids), width), self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(ids), width), dtype=np.int64),
            "token_type_ids": np.zeros((len(ids), width), dtype=np.int64),
        }
        for row, (x, t) in enumerate(zip(ids, type_ids, strict=True)):
            feeds["input_ids"][row, : len(x)] = x
            feeds["attention_mask"][row, : len(x)] = 1
            feeds["token_type_ids"][row, : len(t)] = t
        hidden = self.session.run(None, {k: feeds[k] for k in self.inputs})[0]
        return pool(hidden, feeds["attention_mask"], self.pooling)


class OnnxPredictor(Predictor):
    """An embed or setfit model: ONNX encoder + logistic-regression head from ``head.json``."""

    def __init__(
        self, manifest: dict[str, Any], path: Path, *, threads: int | None = None, batch_size: int = 64
    ) -> None:
        super().__init__(manifest, path)
        self.coef, self.intercept = read_head(path, len(self.classes_))
        info = manifest.get("model", {})
        trunc = manifest.get("truncation", {})
        self.encoder = OnnxEncoder(
            path / ENCODER_FILE,
            path / TOKENIZER_FILE,
            max_seq_length=int(trunc.get("max_seq_length", 256)),
            max_chars=int(trunc.get("max_chars", 4096)),
            pooling=str(info.get("pooling", "mean")),
            pad_id=int(info.get("pad_id", 0)),
            threads=threads,
            batch_size=batch_size,
        )

    def _proba(self, texts: list[str]) -> np.ndarray:
        return head_proba(self.encoder.encode(texts), self.coef, self.intercept)
