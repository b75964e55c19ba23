"""Static-embedding student + logistic-regression head (kind ``static``, extra ``[static]``): the fastest
tier, for very large volumes.

The student is a table of one vector per token, distilled on this machine from the sentence encoder
(default: the packaged all-MiniLM-L6-v2, no download) with model2vec: the encoder embeds every token of
its vocabulary on its own (mean of its outputs), PCA keeps ``pca_dims`` dimensions and each token is
weighted by SIF with frequencies estimated from its rank (Zipf). A text is then the mean of its tokens'
vectors: no transformer runs at prediction time, only a tokenizer and a table lookup
(:mod:`tutorloop.classifiers.static_runtime`).

Distillation runs once per machine and setting (a few minutes on two CPU cores, with a progress line on
stderr) and is cached in ``$TUTORLOOP_HOME/static/<key>/`` (default ``~/.cache/tutorloop/static``), keyed
by the encoder's files and the settings, as the ONNX exports are.

>>> clf = StaticClassifier().fit(["good film", "great movie", "awful plot", "bad acting"],
...                              ["pos", "pos", "neg", "neg"])   # doctest: +SKIP
>>> clf.predict(["a wonderful film"]).tolist()                   # doctest: +SKIP
['pos']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..config import user_dir
from ..errors import ConfigError
from .base import TextClassifier
from .encoder import DEFAULT_ENCODER, cached_folder, resolve_encoder, token_truncation
from .head import head_proba, write_head
from .manifest import sha256_file
from .registry import require
from .static_runtime import TOKENIZER_FILE, VECTORS_FILE, StaticEncoder

SIF_COEFFICIENT = 1e-4  # model2vec's default
DISTILL_FORMAT = 1  # part of the cache key: bump when the files written change
_UNUSED = r"\[unused\d+\]"  # BERT's placeholder tokens, which model2vec drops by default
_WEIGHT_FILES = (".safetensors", ".bin", ".json", ".txt", ".model")
_digests: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}
_lock = threading.Lock()


class StaticClassifier(TextClassifier):
    """Static token embeddings distilled from a sentence encoder, classified by logistic regression.

    Args:
        encoder: the teacher, a sentence-transformers name or path; default: all-MiniLM-L6-v2 packaged
            offline.
        pca_dims: dimensions kept by the distillation's PCA.
        vocab_limit: distil only the first ``vocab_limit`` tokens of the teacher's vocabulary, plus its
            special and one-character tokens, so every text still tokenises (``None``: all of it). Much
            faster to distil and much worse: meant for tests and quick trials.
        max_seq_length: tokens kept per text; longer texts are truncated (recorded in the artifact).
        C: inverse regularisation strength of the head.
        class_weight: ``"balanced"`` (default) or ``None``.
    """

    kind = "static"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        pca_dims: int = 256,
        vocab_limit: int | None = None,
        max_seq_length: int = 512,
        C: float = 10.0,
        class_weight: str | None = "balanced",
    ) -> None:
        self.encoder = encoder
        self.pca_dims = pca_dims
        self.vocab_limit = vocab_limit
        self.max_seq_length = max_seq_length
        self.C = C
        self.class_weight = class_weight

    def _fit(
        self, texts: list[str], y: np.ndarray, classes: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        self._check_params()
        folder = distilled(self.encoder, pca_dims=self.pca_dims, vocab_limit=self.vocab_limit)
        self.static_ = StaticEncoder(
            folder / VECTORS_FILE,
            folder / TOKENIZER_FILE,
            max_seq_length=self.max_seq_length,
            max_chars=token_truncation(self.max_seq_length)["max_chars"],
        )
        self.distill_info_ = json.loads((folder / "distill.json").read_text(encoding="utf-8"))
        head = LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight)
        self.head_ = head.fit(self.static_.encode(texts), y, sample_weight=sample_weight)

    def _check_params(self) -> None:
        checks = (
            ("pca_dims", self.pca_dims, 2, False),
            ("max_seq_length", self.max_seq_length, 1, False),
            ("vocab_limit", self.vocab_limit, 1, True),
        )
        for name, value, low, optional in checks:
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                what = f"{'None or ' if optional else ''}an int >= {low}"
                raise ConfigError(
                    f"The '{name}' parameter of StaticClassifier must be {what}. Got {value!r} instead."
                )

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        # the loaded model's own arithmetic (float64), so a saved model predicts exactly what this one does
        coef, intercept = self.head_.coef_.astype(np.float64), self.head_.intercept_.astype(np.float64)
        return head_proba(self.static_.encode(texts), coef, intercept)

    def _truncation(self) -> dict[str, Any]:
        return token_truncation(self.max_seq_length)

    def _save_model(self, directory: Path) -> dict[str, Any]:
        np.save(directory / VECTORS_FILE, self.static_.vectors, allow_pickle=False)
        (directory / TOKENIZER_FILE).write_text(self.static_.tokenizer_json, encoding="utf-8")
        head_file = write_head(directory, self.head_)
        return {
            "files": [VECTORS_FILE, TOKENIZER_FILE, head_file],
            "encoder_format": "static",
            "pooling": "mean",
            "normalize": True,
            "embedding_dim": self.static_.dim,
            "vocab_size": len(self.static_.vectors),
            "vectors_dtype": str(self.static_.vectors.dtype),
            "teacher": self.encoder or DEFAULT_ENCODER,
            **{k: self.distill_info_[k] for k in ("pca_dims", "vocab_limit", "sif_coefficient", "model2vec")},
        }


# -- distillation, cached per machine ---------------------------------------------------------------------


def distilled(encoder: str | None, *, pca_dims: int, vocab_limit: int | None) -> Path:
    """The folder of the static model distilled from ``encoder`` with these settings: ``vectors.npy``
    (float16, SIF weights applied), ``tokenizer.json`` and ``distill.json``. Distils on the first call
    (printing a line on stderr when it starts and when it ends); later calls, in any process, reuse it.
    """
    source = resolve_encoder(encoder)
    settings = {
        "source": _source_digest(source),
        "pca_dims": int(pca_dims),
        "vocab_limit": vocab_limit,
        "sif_coefficient": SIF_COEFFICIENT,
        "model2vec": _version("model2vec"),
        "format": DISTILL_FORMAT,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]
    root = user_dir() / "static"
    target = root / key

    def build(tmp: Path) -> None:
        _distill(encoder, source, tmp, pca_dims=pca_dims, vocab_limit=vocab_limit, cache=target)

    return cached_folder(root, key, (VECTORS_FILE, TOKENIZER_FILE, "distill.json"), build)


def _distill(
    encoder: str | None, source: str, out: Path, *, pca_dims: int, vocab_limit: int | None, cache: Path
) -> None:
    require(("torch", "transformers", "model2vec", "skeletoken"), "static", "Distilling a static model")
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    name = encoder or DEFAULT_ENCODER
    size = "all" if vocab_limit is None else f"the first {vocab_limit}"
    print(
        f"tutorloop: distilling a static model from {name} ({size} vocabulary tokens, {pca_dims} dims): "
        f"once per machine, a few minutes on CPU; cached in {cache}",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    try:
        model = AutoModel.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except Exception as exc:
        raise ConfigError(
            f"Could not load the encoder {name!r} to distil it ({type(exc).__name__}: {exc}). Give a local "
            "path or a sentence-transformers model name that is cached."
        ) from exc
    static = distill_from_model(
        model,
        tokenizer,
        device="cpu",
        pca_dims=pca_dims,
        sif_coefficient=SIF_COEFFICIENT,
        token_remove_pattern=_remove_pattern(tokenizer, vocab_limit),
    )
    if static.token_mapping is not None:  # only with vocabulary quantisation, which is not asked for
        raise ConfigError("model2vec returned a quantised vocabulary; this tutorloop cannot store it.")
    vectors = np.asarray(static.embedding, dtype=np.float32)
    if static.weights is not None:  # SIF weights; model2vec >= 0.7 keeps them apart from the vectors
        vectors = vectors * np.asarray(static.weights, dtype=np.float32)[:, None]
    np.save(out / VECTORS_FILE, np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    (out / TOKENIZER_FILE).write_text(static.tokenizer.to_str(), encoding="utf-8")
    info = {
        "teacher": name,
        "pca_dims": int(pca_dims),
        "vocab_limit": vocab_limit,
        "sif_coefficient": SIF_COEFFICIENT,
        "model2vec": _version("model2vec"),
        "vocab_size": int(vectors.shape[0]),
        "dims": int(vectors.shape[1]),
        "seconds": round(time.perf_counter() - start, 1),
    }
    (out / "distill.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(
        f"tutorloop: distilled {vectors.shape[0]} tokens x {vectors.shape[1]} dims in {info['seconds']} s",
        file=sys.stderr,
        flush=True,
    )


def _remove_pattern(tokenizer: Any, vocab_limit: int | None) -> str:
    """model2vec's ``token_remove_pattern`` (tokens it matches are not distilled): BERT's unused tokens,
    and with ``vocab_limit`` every token past the limit except special and one-character ones."""
    if vocab_limit is None:
        return _UNUSED
    keep = set(tokenizer.all_special_tokens)
    for token, idx in tokenizer.get_vocab().items():
        if (idx < vocab_limit and not re.fullmatch(_UNUSED, token)) or len(token.removeprefix("##")) == 1:
            keep.add(token)
    return _UNUSED + "|(?!(?:" + "|".join(re.escape(t) for t in sorted(keep)) + ")$)"


def _source_digest(source: str) -> str:
    """sha256 of an encoder folder's weight, config and vocabulary files (the name itself for a hub name),
    remembered per process while the files keep their sizes and times."""
    folder = Path(source)
    if not folder.is_dir():
        return f"name:{source}"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_FILES)
    stamp = tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    with _lock:
        if (source, stamp) not in _digests:
            h = hashlib.sha256()
            for name, *_ in stamp:
                h.update(f"{name}:{sha256_file(folder / name)};".encode())
            _digests[(source, stamp)] = "sha256:" + h.hexdigest()
        return _digests[(source, stamp)]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"
