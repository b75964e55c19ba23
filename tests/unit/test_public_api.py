"""The public surface is deliberate: every exported name exists and is documented (httpx-style check)."""

from __future__ import annotations

import subprocess
import sys

import tutorloop


def test_every_exported_name_resolves_and_is_documented() -> None:
    for name in tutorloop.__all__:
        obj = getattr(tutorloop, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert (obj.__doc__ or "").strip(), f"tutorloop.{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        tutorloop.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_light() -> None:
    """`import tutorloop` (and so the CLI's --help) must not pull in torch, llama.cpp or onnxruntime."""
    code = (
        "import sys, tutorloop; heavy = [m for m in ('torch', 'xllamacpp', 'onnxruntime', 'setfit', "
        "'sentence_transformers') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
