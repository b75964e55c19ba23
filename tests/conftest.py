"""Suite-wide test setup.

- ``TUTORLOOP_HOME`` points at a fresh temporary directory for the whole session, so tests never read
  or write the user's cache, ledger or runs under ``~/.cache/tutorloop``.
- Model files are the one exception, by design: ``TUTORLOOP_MODELS_DIR`` (if not already set) is pinned
  to the *real* models directory (``$TUTORLOOP_HOME/models`` as it was before the override, normally
  ``~/.cache/tutorloop/models``), so the 1.1 GB assembled default model is built once per machine and
  not once per test session. Tests that exercise assembly itself use their own tmp directories.
- API keys for the OpenAI-compatible backend are removed, so no test can reach a paid API by accident.

Fixtures for real-model tests: ``smollm2_path`` (the packaged SmolLM2-135M GGUF; skipped on an install
without the ``[local]`` extra, a failure naming the pip command when the extra is there but the model is not).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _SESSION_HOME
    real_home = os.environ.get("TUTORLOOP_HOME")
    real_root = Path(real_home).expanduser() if real_home else Path.home() / ".cache" / "tutorloop"
    real_models = real_root / "models"
    os.environ.setdefault("TUTORLOOP_MODELS_DIR", str(real_models))
    _SESSION_HOME = tempfile.mkdtemp(prefix="tutorloop-test-home-")
    os.environ["TUTORLOOP_HOME"] = _SESSION_HOME
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(var, None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many bad inputs the property-based tests tried (``tests/unit/bad_input_strategies.py``)."""
    import sys

    support = sys.modules.get("bad_input_strategies")
    tried = getattr(support, "TRIED", None)
    if tried:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(tried.items()) if ": " not in kind)
        outcomes = ", ".join(f"{kind} {n}" for kind, n in sorted(tried.items()) if ": " in kind)
        total = sum(n for kind, n in tried.items() if ": " not in kind)
        terminalreporter.write_line(f"bad inputs tried: {total} ({counts}; {outcomes})")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_HOME:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF; fails with the install command when it is missing."""
    from tutorloop.errors import LLMModelError
    from tutorloop.llm.models import locate

    pytest.importorskip("xllamacpp", reason="needs the [local] extra (llama.cpp)")

    try:
        return locate("smollm2")
    except LLMModelError as exc:
        pytest.fail(f"Real-model tests need the packaged SmolLM2 model: {exc}")
