"""Work at scale: classify folders of Parquet/JSONL files, locally or on Ray Data; teacher labels for a
whole file of texts (:func:`label_file`, ``tutorloop label``).

:func:`predict_dataset` is the entry point (``tutorloop predict MODEL --input DIR --engine ray
--output OUT`` on the command line). Modules: :mod:`~tutorloop.scale.sources` (input files and
chunks), :mod:`~tutorloop.scale.outputs` (prediction rows and part files),
:mod:`~tutorloop.scale.ray_engine` (the Ray Data pipeline; needs ``pip install "tutorloop[ray]"``) and
:mod:`~tutorloop.scale.predict` (checks and the engine switch).
"""

from __future__ import annotations

from .label import LabelResult, label_file
from .predict import ENGINES, BatchResult, predict_dataset

__all__ = ["ENGINES", "BatchResult", "LabelResult", "label_file", "predict_dataset"]
