"""Artifact validation, the factory, the shared encoder and the ONNX export cache."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from tutorloop.classifiers import encoder as encoder_mod
from tutorloop.classifiers import load, make_classifier
from tutorloop.classifiers.manifest import FORMAT_VERSION, sha256_file
from tutorloop.errors import ArtifactError, ConfigError


@pytest.fixture
def copy_of(saved, tmp_path):
    def get(kind: str = "tfidf"):
        dst = tmp_path / f"copy-{kind}"
        shutil.copytree(saved(kind), dst)
        return dst

    return get


def _edit_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_missing_path(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        load(tmp_path / "nope")


def test_foreign_directory(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load(tmp_path)


def test_foreign_manifest(copy_of):
    path = copy_of()
    (path / "manifest.json").write_text(json.dumps({"name": "some other tool"}))
    with pytest.raises(ArtifactError, match="not a tutorloop model"):
        load(path)


def test_corrupt_manifest(copy_of):
    path = copy_of()
    (path / "manifest.json").write_bytes(b"{not json\xff")
    with pytest.raises(ArtifactError, match="corrupt"):
        load(path)


def test_newer_format_version(copy_of):
    path = copy_of()
    _edit_manifest(path, format_version=FORMAT_VERSION + 1, tutorloop_version="9.0.0")
    with pytest.raises(ArtifactError, match=r"newer tutorloop.*9\.0\.0.*pip install -U tutorloop"):
        load(path)


@pytest.mark.parametrize(
    "kind,name", [("tfidf", "model.skops"), ("embed", "encoder.onnx"), ("embed", "head.json")]
)
def test_missing_model_file(copy_of, kind, name):
    path = copy_of(kind)
    (path / name).unlink()
    with pytest.raises(ArtifactError, match=f"{name} is missing"):
        load(path)


@pytest.mark.parametrize("kind,name", [("tfidf", "model.skops"), ("embed", "encoder.onnx")])
def test_corrupt_model_file(copy_of, kind, name):
    path = copy_of(kind)
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        load(path)


def test_garbage_onnx_with_matching_checksum_is_an_artifact_error(copy_of):
    path = copy_of("embed")
    (path / "encoder.onnx").write_bytes(b"this is not onnx")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["encoder.onnx"] = sha256_file(path / "encoder.onnx")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="may be corrupt"):
        load(path)


def test_skops_with_untrusted_types_is_refused(copy_of):
    """A model file that would call os.system on load must not be loaded, even with a valid checksum."""
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = copy_of()
    sio.dump(FunctionTransformer(func=os.system), path / "model.skops")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["model.skops"] = sha256_file(path / "model.skops")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not trust"):
        load(path)


def test_save_refuses_to_overwrite_a_foreign_directory(fitted, tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        fitted("tfidf").save(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_resave_replaces_an_artifact(fitted, tmp_path):
    first = fitted("tfidf").save(tmp_path / "m", metrics={"accuracy": 0.5})
    fitted("tfidf").save(first, metrics={"accuracy": 0.75})
    assert load(first).manifest["metrics"]["accuracy"] == 0.75


def test_unknown_kind_suggests():
    with pytest.raises(ConfigError, match="Did you mean 'setfit'"):
        make_classifier("setfti")


def test_bad_parameter_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid: C, class_weight"):
        make_classifier("tfidf", alpha=1)


def test_missing_extra_names_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "setfit", None)  # import setfit -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "tutorloop\[setfit\]"'):
        make_classifier("setfit")


def test_shared_encoder_is_cached_and_normalised(monkeypatch, _torch_threads, require_kind):
    require_kind("embed")
    enc = encoder_mod.get_encoder()
    assert encoder_mod.get_encoder(None) is enc
    calls: list[int] = []
    real = enc._embed
    monkeypatch.setattr(enc, "_embed", lambda texts, n: calls.append(len(texts)) or real(texts, n))
    a = enc.encode(["zebra crossing ahead", "quantum flux"], max_seq_length=64)
    b = enc.encode(["quantum flux", "zebra crossing ahead", "a third one"], max_seq_length=64)
    assert calls == [2, 1]  # only new texts are encoded
    assert a.dtype == np.float32 and a.shape == (2, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a[0], b[1])


def test_onnx_export_is_reused_between_saves(fitted, saved, tmp_path, monkeypatch):
    saved("embed")  # exported once already this session
    monkeypatch.setattr(encoder_mod, "_export", lambda *a, **k: pytest.fail("re-exported the same encoder"))
    path = fitted("embed").save(tmp_path / "again")
    assert load(path).manifest["model"]["quantized"] == "int8-dynamic-per-channel"


def test_fp32_option(tiny, tmp_path, held_out, require_kind):
    require_kind("embed")
    clf = make_classifier("embed", quantize=False).fit(*tiny)
    model = load(clf.save(tmp_path / "fp32"))
    assert model.manifest["model"]["quantized"] is None
    texts = [t for t, _ in held_out]
    np.testing.assert_allclose(model.predict_proba(texts), clf.predict_proba(texts), atol=2e-3)


def test_quantize_auto_follows_the_encoder_and_a_bad_value_fails_before_training(
    tiny, tmp_path, monkeypatch, require_kind
):
    require_kind("embed")
    with pytest.raises(ConfigError, match="quantize must be True"):
        make_classifier("embed", quantize="yes").fit(*tiny)
    clf = make_classifier("embed").fit(*tiny)  # quantize="auto"; the default encoder keeps int8
    assert load(clf.save(tmp_path / "auto")).manifest["model"]["quantized"] == "int8-dynamic-per-channel"
    # an encoder measured to lose accuracy in int8 is saved fp32 (the same MiniLM weights stand in here)
    monkeypatch.setattr(encoder_mod, "int8_by_default", lambda name: False)
    assert load(clf.save(tmp_path / "fp32")).manifest["model"]["quantized"] is None


def _rehash(path, name):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(path / name)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _drop_entry(manifest):
    manifest["files"].pop("model.skops")


def _traversal(manifest):
    manifest["files"]["../outside.txt"] = "0" * 64


def _absolute(manifest):
    manifest["files"]["/etc/hostname"] = "0" * 64


def _files_a_list(manifest):
    manifest["files"] = list(manifest["files"])


def _drop_a_label(manifest):
    manifest["labels"] = manifest["labels"][:-1]


def _other_kind(manifest):
    manifest["kind"] = "embed"


def _other_digest(manifest):
    manifest["files"]["model.skops"] = "0" * 64


@pytest.mark.parametrize(
    "tamper,match",
    [
        (_drop_entry, "does not list with a checksum"),
        (_traversal, "plain names"),
        (_absolute, "plain names"),
        (_files_a_list, "must be a mapping of file name to sha256"),
        (_drop_a_label, "the model has 4 classes but the manifest lists 3"),
        (_other_kind, "head.json is missing or corrupt"),
        (_other_digest, "does not match its checksum"),
    ],
)
def test_a_tampered_manifest_is_refused(copy_of, tamper, match):
    """Edits that would load unchecked files, read outside the folder or mismatch the model. (Renaming
    labels in place is not detectable: the manifest is the artifact's root of trust, and it is not signed.)"""
    path = copy_of()
    manifest = json.loads((path / "manifest.json").read_text())
    tamper(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=match):
        load(path)


def test_model_files_lists_every_file_a_predictor_reads():
    from tutorloop.classifiers import head, onnx_runtime, predictors, static_runtime
    from tutorloop.classifiers.manifest import MODEL_FILES

    read = {
        predictors.SKOPS_FILE,
        onnx_runtime.ENCODER_FILE,
        onnx_runtime.TOKENIZER_FILE,
        static_runtime.VECTORS_FILE,
        static_runtime.TOKENIZER_FILE,
        head.HEAD_FILE,
    }
    assert read <= set(MODEL_FILES)


class _Payload:
    """Pickled, it runs ``open(marker, "w")`` on load: what a malicious model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["pickle-as-model", "pickle-inside-skops", "unlisted-pickle"])
def test_loading_never_executes_code_from_the_artifact(copy_of, tmp_path, how):
    """A model file that runs code when unpickled is refused, with or without a matching checksum."""
    import pickle
    import zipfile

    path = copy_of()
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    assert not marker.exists()
    if how == "pickle-as-model":  # a plain pickle in place of model.skops, checksum updated to match
        (path / "model.skops").write_bytes(payload)
        _rehash(path, "model.skops")
    elif how == "pickle-inside-skops":  # a skops zip whose schema points at a pickled object
        with zipfile.ZipFile(path / "model.skops", "a") as z:
            z.writestr("evil.pkl", payload)
            schema = json.loads(z.read("schema.json"))
        schema["__class__"], schema["__module__"], schema["__loader__"] = "open", "builtins", "ObjectNode"
        rebuilt = path / "rebuilt.skops"
        with zipfile.ZipFile(path / "model.skops") as src, zipfile.ZipFile(rebuilt, "w") as dst:
            for item in src.infolist():
                data = json.dumps(schema).encode() if item.filename == "schema.json" else src.read(item)
                dst.writestr(item.filename, data)
        rebuilt.replace(path / "model.skops")
        _rehash(path, "model.skops")
    else:  # the checksum entry is dropped so no check would run, and the file replaced
        (path / "model.skops").write_bytes(payload)
        manifest = json.loads((path / "manifest.json").read_text())
        del manifest["files"]["model.skops"]
        (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError):
        load(path)
    assert not marker.exists(), "loading the artifact ran code from it"
    # the marker mechanism works: unpickling the payload does create it
    pickle.loads(payload)
    assert marker.exists()
