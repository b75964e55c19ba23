"""What int8 quantisation of the exported encoder costs a run's student (offline, no LLM).

Refits a finished run's kept round (round 0's training set and self-label weight, as the loop trained it)
with the run's own encoder (or ``--encoder NAME``: the same labels in another encoder's space), saves it
once with an fp32 ONNX encoder, then re-quantises that encoder in several ways (onnxruntime dynamic
quantisation) and scores each artifact, as ``tutorloop.load`` serves it, on a labelled test folder:
macro-F1, agreement with the fp32 artifact's predictions, texts/s and size. This is the measurement
behind ``quantize="auto"`` (int8 for MiniLM, fp32 for mpnet).

    python benchmarks/quantize_check.py --run bench-results/pool-mpnet/runs/sst2/seed0/tutorloop-pool \\
        --data ../shared/benchmarks/sst2 --out benchmarks/results/quantize_mpnet_sst2.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from onnxruntime.quantization import QuantType, quantize_dynamic

from tutorloop.bench.datasets import load_dataset
from tutorloop.classifiers import load
from tutorloop.classifiers.embed import EmbedClassifier
from tutorloop.classifiers.manifest import sha256_file
from tutorloop.data.store import Store
from tutorloop.evaluation.metrics import evaluate
from tutorloop.loop.pool import SELF
from tutorloop.loop.train import kept_rows, round_self_weight

try:
    from _results import machine, write_results
except ImportError:  # run as a module from the repository root
    from benchmarks._results import machine, write_results

VARIANTS: dict[str, dict[str, Any] | None] = {
    "fp32": None,
    "int8 per channel (quantize=True)": {"weight_type": QuantType.QInt8, "per_channel": True},
    "int8 per channel, MatMul only": {
        "weight_type": QuantType.QInt8,
        "per_channel": True,
        "op_types_to_quantize": ["MatMul"],
    },
    "int8 per channel, MatMul only, reduced range": {
        "weight_type": QuantType.QInt8,
        "per_channel": True,
        "reduce_range": True,
        "op_types_to_quantize": ["MatMul"],
    },
    "int8 per tensor, reduced range": {
        "weight_type": QuantType.QInt8,
        "per_channel": False,
        "reduce_range": True,
    },
    "uint8 per channel": {"weight_type": QuantType.QUInt8, "per_channel": True},
}


def refit_round_zero(run: Path, encoder: str | None = None) -> EmbedClassifier:
    """The run's round-0 student, refitted in memory with its self-label weight and the run's encoder (or
    ``encoder``: the same labels in another encoder's space)."""
    encoder = encoder or json.loads((run / "config.json").read_text(encoding="utf-8"))["config"].get(
        "encoder"
    )
    store = Store(run / "store.sqlite")
    try:
        w_self = round_self_weight(store, 0)
        rows = kept_rows(store.train_set_at(0), w_self)
    finally:
        store.close()
    clf = EmbedClassifier(encoder=encoder, quantize=False)
    weights = [w_self if e["origin"] == SELF else 1.0 for e in rows]
    return clf.fit([e["text"] for e in rows], [e["label"] for e in rows], sample_weight=weights)


def requantized(fp32_dir: Path, folder: Path, options: dict[str, Any] | None) -> Path:
    """A copy of the fp32 artifact with its encoder quantised by ``options`` (manifest digest updated)."""
    shutil.copytree(fp32_dir, folder)
    if options is not None:
        (folder / "encoder.onnx").unlink()
        quantize_dynamic(str(fp32_dir / "encoder.onnx"), str(folder / "encoder.onnx"), **options)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        manifest["files"]["encoder.onnx"] = sha256_file(folder / "encoder.onnx")
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="finished tutorloop-pool run folder")
    ap.add_argument("--data", required=True, help="labelled test folder (test.jsonl, labels.json)")
    ap.add_argument("--encoder", help="refit with this encoder instead of the run's (same training rows)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    ds = load_dataset(args.data)
    texts, gold, labels = list(ds.texts), [str(g) for g in ds.gold], list(ds.labels)
    clf = refit_round_zero(args.run, args.encoder)
    results: dict[str, Any] = {}
    reference: list[str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        fp32_dir = clf.save(Path(tmp) / "fp32-source")
        for i, (name, options) in enumerate(VARIANTS.items()):
            folder = requantized(fp32_dir, Path(tmp) / f"variant{i}", options)
            model = load(folder)
            start = time.perf_counter()
            pred = [str(p) for p in model.predict(texts)]
            seconds = time.perf_counter() - start
            reference = reference or pred
            m = evaluate(gold, pred, labels)
            results[name] = {
                "macro_f1": round(100 * float(m["macro_f1"]), 2),
                "accuracy": round(100 * float(m["accuracy"]), 2),
                "agrees_with_fp32": round(100 * sum(map(str.__eq__, pred, reference)) / len(pred), 2),
                "texts_per_s": round(len(texts) / seconds, 1),
                "encoder_mb": round((folder / "encoder.onnx").stat().st_size / 2**20, 1),
            }
            print(name, results[name], flush=True)
    out = {"run": str(args.run), "encoder": clf.encoder, "data": args.data, "variants": results}
    out["machine"] = machine()
    if args.out:
        write_results(args.out, out)


if __name__ == "__main__":
    main()
