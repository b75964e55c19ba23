"""SetFit: contrastive fine-tuning of the sentence encoder, then a logistic-regression head.

Needs the extra ``[setfit]``.

Defaults are sized for a 2-core CPU: one epoch over at most ``max_steps`` batches of sampled pairs
(pairs are sampled, never all n² of them), and ``max_seq_length`` set on the body itself, where
SetFit honours it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .base import TextClassifier
from .encoder import (
    DEFAULT_ENCODER,
    chars_for,
    check_quantize,
    resolve_encoder,
    save_encoder_model,
    token_truncation,
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence SetFit/datasets progress bars, warnings and info logs during training."""
    from datasets.utils import logging as ds_logging

    loggers = [logging.getLogger(name) for name in ("setfit", "sentence_transformers", "transformers")]
    levels = [lg.level for lg in loggers]
    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if bars:
            ds_logging.enable_progress_bar()


class SetFitClassifier(TextClassifier):
    """SetFit on the packaged all-MiniLM-L6-v2 (or any sentence-transformers model).

    Args:
        encoder: sentence-transformers name or path; default: all-MiniLM-L6-v2 packaged offline.
        max_seq_length: tokens kept per text, set on the body (recorded in the artifact).
        num_iterations: positive/negative pairs sampled per example.
        max_steps: cap on contrastive training steps (so pairs never grow quadratically); ``-1``: no cap.
            Each step is ``batch_size`` pairs through the body forward and backward: on 2 CPU cores
            roughly 0.5 s for short texts and several seconds for ~60-token texts.
        num_epochs: epochs over the sampled pairs.
        batch_size: pairs per step.
        body_learning_rate: learning rate of the encoder body.
        seed: random seed for pair sampling and training.
        quantize: ``True`` saves the ONNX encoder int8-quantised, ``False`` keeps fp32, ``"auto"`` (default)
            as :class:`~tutorloop.classifiers.embed.EmbedClassifier` decides it for the encoder.

    >>> clf = SetFitClassifier(num_iterations=2).fit(["good film", "great movie", "awful", "bad acting"],
    ...                                              ["pos", "pos", "neg", "neg"])   # doctest: +SKIP
    """

    kind = "setfit"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        max_seq_length: int = 128,
        num_iterations: int = 5,
        max_steps: int = 50,
        num_epochs: int = 1,
        batch_size: int = 16,
        body_learning_rate: float = 2e-5,
        seed: int = 42,
        quantize: bool | str = "auto",
    ) -> None:
        self.encoder = encoder
        self.max_seq_length = max_seq_length
        self.num_iterations = num_iterations
        self.max_steps = max_steps
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.body_learning_rate = body_learning_rate
        self.seed = seed
        self.quantize = quantize

    def _fit(
        self, texts: list[str], y: np.ndarray, classes: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        """Contrastive fine-tuning has no per-example weights: a text counts if its weight is above zero."""
        import os

        check_quantize(self.quantize)
        if sample_weight is not None:
            keep = [i for i, w in enumerate(sample_weight) if w > 0]
            texts, y = [texts[i] for i in keep], y[keep]

        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        source = resolve_encoder(self.encoder)
        if Path(source).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        cut = chars_for(self.max_seq_length)
        data = Dataset.from_dict({"text": [t[:cut] for t in texts], "label": [int(v) for v in y]})
        with _quiet(), tempfile.TemporaryDirectory(prefix="tutorloop-setfit-") as tmp:
            model = SetFitModel.from_pretrained(source, device="cpu")
            model.normalize_embeddings = True
            # SetFit ignores TrainingArguments.max_length for the body unless it is set on the body itself.
            model.model_body.max_seq_length = int(self.max_seq_length)
            args = TrainingArguments(
                output_dir=tmp,
                save_strategy="no",
                report_to="none",
                logging_strategy="no",
                show_progress_bar=False,
                batch_size=int(self.batch_size),
                num_epochs=int(self.num_epochs),
                num_iterations=int(self.num_iterations),
                max_steps=self._step_cap(len(texts)),
                body_learning_rate=float(self.body_learning_rate),
                max_length=int(self.max_seq_length),
                seed=int(self.seed),
            )
            trainer = Trainer(model=model, args=args, train_dataset=data)
            for callback in (ProgressCallback, PrinterCallback):
                trainer.st_trainer.remove_callback(callback)
            trainer.train()
        self.model_ = model

    def _step_cap(self, n: int) -> int:
        """``max_steps`` only when it is below the steps the sampled pairs would take (else -1: no cap).

        SetFit turns ``max_steps`` into the number of pairs to sample, so passing it unconditionally
        would repeat a small data set for many epochs.
        """
        pairs = 2 * int(self.num_iterations) * n
        natural = -(-pairs // int(self.batch_size)) * int(self.num_epochs)
        return int(self.max_steps) if 0 < int(self.max_steps) < natural else -1

    def _embed(self, texts: list[str]) -> np.ndarray:
        cut = chars_for(self.max_seq_length)
        vecs = self.model_.model_body.encode(
            [t[:cut] for t in texts],
            batch_size=64,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.model_.model_head.predict_proba(self._embed(texts))

    def _truncation(self) -> dict[str, Any]:
        return token_truncation(self.max_seq_length)

    def _save_model(self, directory: Path) -> dict[str, Any]:
        info = save_encoder_model(
            self.model_.model_body,
            directory,
            self.model_.model_head,
            quantize=self.quantize,
            encoder=self.encoder,
        )
        return info | {"encoder": self.encoder or DEFAULT_ENCODER, "fine_tuned": True}
