"""Assembling a split, packaged sentence encoder: concatenation, extraction, checksum, reuse."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from tutorloop.classifiers import packaged_encoders as pe
from tutorloop.errors import ConfigError


def _split_zip(tmp_path: Path, weights: bytes, parts: int = 3) -> list[Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tiny-encoder/model.safetensors", weights)
        zf.writestr("tiny-encoder/config.json", "{}")
    blob = buf.getvalue()
    step = len(blob) // parts + 1
    paths = []
    for i in range(parts):
        p = tmp_path / f"tiny.zip.{i + 1:03d}"
        p.write_bytes(blob[i * step : (i + 1) * step])
        paths.append(p)
    return paths


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pe.PackagedEncoder, list[Path]]:
    monkeypatch.setenv("TUTORLOOP_HOME", str(tmp_path / "home"))  # a fresh user directory per test
    weights = b"weights" * 100
    parts = _split_zip(tmp_path, weights)
    spec = pe.PackagedEncoder(
        "tiny",
        ("d1", "d2", "d3"),
        "tiny.zip",
        "model.safetensors",
        len(weights),
        hashlib.sha256(weights).hexdigest(),
        "tiny",
    )
    monkeypatch.setitem(pe.PACKAGED_ENCODERS, "tiny", spec)
    monkeypatch.setattr(pe, "_part", lambda dist, zip_name: parts[int(dist[1]) - 1])
    return spec, parts


def test_parts_are_assembled_once_and_verified(tiny: tuple[pe.PackagedEncoder, list[Path]]) -> None:
    path = pe.locate_encoder("tiny")
    assert (path / "model.safetensors").read_bytes() == b"weights" * 100 and (path / "config.json").is_file()
    for p in tiny[1]:
        p.unlink()  # a second load needs no part: the verified folder is reused
    assert pe.locate_encoder("tiny") == path


def test_a_corrupt_part_is_refused_with_the_pip_command(
    tiny: tuple[pe.PackagedEncoder, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = tiny
    monkeypatch.setitem(
        pe.PACKAGED_ENCODERS, "tiny", pe.PackagedEncoder(**{**spec.__dict__, "sha256": "0" * 64})
    )
    with pytest.raises(ConfigError, match=r'do not match.*pip install "tutorloop\[tiny\]"'):
        pe.locate_encoder("tiny")


def test_a_missing_package_names_the_extra() -> None:
    spec = pe.PACKAGED_ENCODERS["all-mpnet-base-v2"]
    with pytest.raises(ConfigError, match=r"not installed"):
        pe._part("tutorloop-no-such-dist", spec.zip_name)
