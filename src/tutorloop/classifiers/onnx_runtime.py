"""Inference for exported encoders: onnxruntime + tokenizers + numpy only (no torch).

:class:`OnnxEncoder` turns texts into L2-normalised sentence embeddings with an ONNX transformer body,
a ``tokenizers`` tokenizer and numpy pooling; :class:`OnnxPredictor` adds the logistic-regression head
stored in ``head.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, ConfigError
from .head import head_proba, read_head
from .predictors import Predictor

ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"


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


class OnnxEncoder:
    """Sentence embeddings from an exported encoder directory.

    Args:
        model_path: the ONNX file (outputs ``last_hidden_state``).
        tokenizer_path: ``tokenizer.json``.
        max_seq_length: tokens kept per text (longer texts are truncated).
        max_chars: characters kept before tokenising, so a 1 MB text costs no more than a short one.
        pooling: ``mean``, ``cls`` or ``max``.
        pad_id, pad_token: padding used for batches.
        threads: onnxruntime intra-op threads (``None``: onnxruntime decides).
        batch_size: texts per ONNX call.
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
        pad_token: str = "[PAD]",
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        ort, tokenizers = _require_runtime()
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ArtifactError(
                f"Could not load the encoder {model_path} ({exc}); the file may be corrupt."
            ) from exc
        self.tokenizer.enable_truncation(max_length=int(max_seq_length))
        self.tokenizer.enable_padding(pad_id=int(pad_id), pad_token=pad_token)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.max_chars = int(max_chars)
        self.pooling = pooling
        self.batch_size = int(batch_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text (batched, sorted by length for speed)."""
        cut = [t[: self.max_chars] for t in texts]
        order = np.argsort([len(t) for t in cut], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(cut), self.batch_size):
            idx = order[start : start + self.batch_size]
            vecs = self._encode_batch([cut[i] for i in idx])
            if out is None:
                out = np.empty((len(cut), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
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
            pad_token=str(info.get("pad_token", "[PAD]")),
            threads=threads,
            batch_size=batch_size,
        )

    def _proba(self, texts: list[str]) -> np.ndarray:
        return head_proba(self.encoder.encode(texts), self.coef, self.intercept)
