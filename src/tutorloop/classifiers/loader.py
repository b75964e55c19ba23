"""Load a saved model: validate its manifest, then build the predictor its kind's registry entry names.

>>> import tempfile
>>> from tutorloop.classifiers import make_classifier, load
>>> clf = make_classifier("tfidf").fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
>>> model = load(clf.save(tempfile.mkdtemp() + "/m"))
>>> model.classes_.tolist(), model.manifest["kind"]
(['neg', 'pos'], 'tfidf')
"""

from __future__ import annotations

from pathlib import Path

from . import registry
from .manifest import read_manifest
from .predictors import Predictor


def load(path: str | Path, *, threads: int | None = None, batch_size: int = 64) -> Predictor:
    """Load a saved model for prediction. Needs neither the LLM nor torch/setfit.

    Args:
        path: the artifact directory written by ``clf.save(...)`` or ``tutorloop train``.
        threads: embed/setfit models: batches encoded at once, one onnxruntime thread each (default: one
            per CPU this process may use).
        batch_size: most texts per ONNX call (embed/setfit also cap a call at 512 padded tokens).

    Raises:
        ArtifactError: missing, corrupt or foreign directory, or a model from a newer tutorloop.
    """
    root = Path(path)
    manifest = read_manifest(root)
    factory = registry.resolve(registry.get(manifest["kind"]).predictor)
    predictor: Predictor = factory(manifest, root, threads=threads, batch_size=batch_size)
    return predictor
