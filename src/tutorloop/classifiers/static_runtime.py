"""Inference for static-embedding models (kind ``static``): numpy, scipy.sparse (both in the base install)
and ``tokenizers`` only; no torch, no model2vec.

A static model is a table of one vector per token (``vectors.npy``, distilled from a sentence encoder by
:mod:`tutorloop.classifiers.static`) and the tokenizer that splits texts into those tokens
(``tokenizer.json``). A text's embedding is the mean of its tokens' vectors, L2-normalised, as model2vec's
``StaticModel.encode`` computes it: no special tokens, unknown tokens dropped, at most ``max_seq_length``
tokens, and no padding (model2vec 0.8.0 keeps the teacher tokenizer's padding to 128 tokens and so averages
``[PAD]`` vectors into short texts; that is switched off here). :class:`StaticPredictor` adds the
logistic-regression head from ``head.json``.

>>> import json, tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> vocab = {"[UNK]": 0, "good": 1, "bad": 2}
>>> (d / "tokenizer.json").write_text(json.dumps({"version": "1.0", "pre_tokenizer": {"type": "Whitespace"},
...     "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}))  # doctest: +ELLIPSIS
1...
>>> np.save(d / "vectors.npy", np.array([[9, 9], [3, 4], [0, 1]], dtype=np.float16), allow_pickle=False)
>>> enc = StaticEncoder(d / "vectors.npy", d / "tokenizer.json", max_seq_length=8, max_chars=64)
>>> enc.encode(["good", "good zzz", "bad good", "zzz"]).astype(float).round(3).tolist()  # zzz: unknown
[[0.6, 0.8], [0.6, 0.8], [0.514, 0.857], [0.0, 0.0]]
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import ArtifactError, ConfigError
from .head import head_proba, read_head
from .onnx_runtime import normalize
from .predictors import Predictor

VECTORS_FILE = "vectors.npy"
TOKENIZER_FILE = "tokenizer.json"


def _require_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:
        raise ConfigError(
            f"Loading static models needs the tokenizers package ({exc}). "
            'Install it with: pip install "tutorloop[infer]"'
        ) from exc
    return tokenizers


def _unknown_id(tokenizer: Any, tokenizer_json: str) -> int:
    """The id of the tokenizer model's unknown token (``-1`` when it has none)."""
    unk = json.loads(tokenizer_json).get("model", {}).get("unk_token")
    found = tokenizer.token_to_id(unk) if isinstance(unk, str) else None
    return -1 if found is None else int(found)


class StaticEncoder:
    """Text embeddings from a token-vector table: the mean of a text's token vectors, L2-normalised.

    Args:
        vectors_path: ``vectors.npy``, shape ``(vocabulary size, dims)``, loaded without pickle.
        tokenizer_path: ``tokenizer.json`` whose token ids index the rows of the table.
        max_seq_length: tokens kept per text (after unknown tokens are dropped).
        max_chars: characters kept before tokenising, so a 1 MB text costs no more than a short one.
        batch_size: texts tokenised per call.

    Attributes:
        vectors: the table as stored (float16); ``dim``: its width.
        tokenizer_json: the tokenizer as stored, so a trainer can write it out unchanged.
    """

    def __init__(
        self,
        vectors_path: Path,
        tokenizer_path: Path,
        *,
        max_seq_length: int,
        max_chars: int,
        batch_size: int = 1024,
    ) -> None:
        tokenizers = _require_tokenizers()
        try:
            self.vectors = np.load(vectors_path, allow_pickle=False)
            self.tokenizer_json = Path(tokenizer_path).read_text(encoding="utf-8")
            self.tokenizer = tokenizers.Tokenizer.from_str(self.tokenizer_json)
        except Exception as exc:
            raise ArtifactError(
                f"Could not load the static model {vectors_path.parent} ({exc}); the files may be corrupt."
            ) from exc
        n_tokens = self.tokenizer.get_vocab_size(with_added_tokens=True)
        if self.vectors.ndim != 2 or self.vectors.dtype.kind != "f" or len(self.vectors) != n_tokens:
            raise ArtifactError(
                f"{vectors_path} holds a {self.vectors.dtype} table of shape {self.vectors.shape}, but its "
                f"tokenizer has {n_tokens} tokens; the files do not belong together. Re-save the model."
            )
        self.tokenizer.no_padding()  # model2vec's tokenizer.json keeps the teacher's padding to 128
        self.tokenizer.no_truncation()  # truncation counts known tokens only, below
        # row-major whatever the file's order (PCA leaves model2vec's table column-major): a token's vector
        # must be one contiguous row, or every lookup strides across the whole table
        self._table = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self.unk_id = _unknown_id(self.tokenizer, self.tokenizer_json)
        self.max_seq_length = int(max_seq_length)
        self.max_chars = int(max_chars)
        self.batch_size = max(1, int(batch_size))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 embeddings, one L2-normalised row per text (zeros for a text with no known token)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = [t[: self.max_chars] for t in texts[start : start + self.batch_size]]
            out[start : start + len(chunk)] = self._encode_batch(chunk)
        return normalize(out) if len(out) else out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        ids = np.fromiter(
            itertools.chain.from_iterable(e.ids for e in encs), dtype=np.int64, count=int(lengths.sum())
        )
        row = np.repeat(np.arange(len(texts)), lengths)
        keep = ids != self.unk_id
        kept_so_far = np.cumsum(keep)  # a token's rank among its text's known tokens decides truncation
        before_row = np.concatenate(([0], kept_so_far))[np.cumsum(lengths) - lengths]
        keep &= kept_so_far - before_row[row] <= self.max_seq_length
        counts = np.bincount(row[keep], minlength=len(texts))
        # a (texts x vocabulary) sparse matrix of token counts times the table: the sums without
        # materialising one row per token (twice as fast as gathering the rows on two cores)
        indptr = np.concatenate(([0], np.cumsum(counts)))
        ones = np.ones(int(counts.sum()), dtype=np.float32)
        bag = sparse.csr_matrix((ones, ids[keep], indptr), shape=(len(texts), len(self._table)))
        sums = np.asarray(bag @ self._table, dtype=np.float32)
        return sums / np.maximum(counts, 1)[:, None]


class StaticPredictor(Predictor):
    """A static model: token-vector table + tokenizer + logistic-regression head from ``head.json``."""

    def __init__(
        self, manifest: dict[str, Any], path: Path, *, threads: int | None = None, batch_size: int = 64
    ) -> None:
        super().__init__(manifest, path)
        self.coef, self.intercept = read_head(path, len(self.classes_))
        trunc = manifest.get("truncation", {})
        # Token lookups are cheap, so a batch is at least 1024 texts whatever an ONNX-sized batch_size says.
        self.encoder = StaticEncoder(
            path / VECTORS_FILE,
            path / TOKENIZER_FILE,
            max_seq_length=int(trunc.get("max_seq_length", 512)),
            max_chars=int(trunc.get("max_chars", 8192)),
            batch_size=max(1024, int(batch_size)),
        )
        if self.coef.shape[1] != self.encoder.dim:
            raise ArtifactError(
                f"{path}: the head expects {self.coef.shape[1]}-dim embeddings, the vectors have "
                f"{self.encoder.dim}. Re-save the model."
            )

    def _proba(self, texts: list[str]) -> np.ndarray:
        return head_proba(self.encoder.encode(texts), self.coef, self.intercept)
