"""A ``tutorloop.backends`` plugin for tests that run the real CLI in a subprocess (``python -m tutorloop``).

:func:`install` writes a tiny ``dist-info`` folder whose entry point names :func:`factory`; put that folder
on the subprocess's ``PYTHONPATH`` (with this directory and ``tests/unit``) and ``--llm scripted`` gives a
:class:`~tutorloop.llm.FakeLLM` that plays the keyword curator of ``test_loop_support``. It sleeps
``SCRIPTED_DELAY_S`` seconds (environment variable, default 0) before each reply, so a test can interrupt
a run mid-phase, and appends a line to ``SCRIPTED_REPLIES_FILE`` (if set) as each reply is made, so a test
can wait for a given call instead of guessing from timings.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tutorloop.llm import FakeLLM
from tutorloop.types import LLMRequest

HERE = Path(__file__).resolve().parent


def factory(rest: str, **options: Any) -> FakeLLM:
    """The entry point: ``--llm scripted`` (``rest`` unused); labels come from each request."""
    from test_loop_support import Curator, blind_label  # tests/unit is on the subprocess's path

    curator: Curator | None = None
    delay = float(os.environ.get("SCRIPTED_DELAY_S", "0"))
    replies = os.environ.get("SCRIPTED_REPLIES_FILE")

    def respond(req: LLMRequest) -> Any:
        nonlocal curator
        if replies:
            with open(replies, "a", encoding="utf-8") as fh:
                fh.write("reply\n")
        time.sleep(delay)
        props = (req.json_schema or {}).get("properties", {})
        if "enum" in props.get("label", {}):  # the bench's zero-shot LLM: one label per text
            return {"label": blind_label(req.messages[-1].content, props["label"]["enum"])}
        curator = curator or Curator(["positive", "negative"])
        return curator(req)

    return FakeLLM(responder=respond, model="scripted", cache=options.get("cache"))


def install(folder: Path) -> dict[str, str]:
    """Register the plugin under ``folder``; returns the environment a subprocess needs to use it."""
    info = folder / "tutorloop_scripted-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tutorloop-scripted\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[tutorloop.backends]\nscripted = scripted_backend:factory\n")
    src = HERE.parents[1] / "src"
    path = [str(folder), str(HERE), str(HERE.parent / "unit"), str(src)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
