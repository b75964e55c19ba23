"""A teacher that dies for good mid-run: ``tutorloop run`` stops with one line after bounded retries (no
hang), keeps every job it finished, and ``--resume`` against a live server finishes the run without asking
again what the dead server had answered.

Real processes and sockets: the CLI runs as ``python -m tutorloop`` on the ``openai`` backend against the
curator server of ``curator_server.py``, which answers a number of requests and then closes its listening
socket (later connections are refused)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from curator_server import curator_server

SRC = Path(__file__).resolve().parents[2] / "src"
LABELS = ["positive", "negative"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tutorloop", *args], env=env, capture_output=True, text=True, timeout=600
    )


def _jobs(run_dir: Path) -> set[str]:
    with sqlite3.connect(run_dir / "store.sqlite") as db:
        return {key for (key,) in db.execute("SELECT key FROM jobs")}


def test_a_teacher_that_dies_mid_run_stops_it_in_one_line_and_resume_finishes(tmp_path: Path) -> None:
    env = {**os.environ, "TUTORLOOP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    task = tmp_path / "task.yaml"
    task.write_text("task: Classify reviews\nlabels: [positive, negative]\n")
    run_dir = tmp_path / "run"
    loop = ["--classifier", "tfidf", "--examples-per-label", "6", "--val-per-label", "3", "--rounds", "1"]

    with curator_server(LABELS, die_after=12) as dying:
        died = _run(
            ["run", str(task), "--out", str(run_dir), "--llm", "openai:stub", "--base-url", dying.url, *loop],
            env,
        )
        assert dying.dead.is_set() and dying.answered == 12
    assert died.returncode == 1, died.stderr[-2000:]
    assert "Traceback" not in died.stderr
    last = died.stderr.strip().splitlines()[-1]
    assert last.startswith("LLMConnectionError: Cannot reach ") and dying.url.split("/v1")[0] in last, last
    finished = _jobs(run_dir)
    assert finished, "the jobs answered before the server died are kept"

    with curator_server(LABELS) as live:
        resumed = _run(["run", "--resume", str(run_dir), "--base-url", live.url], env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert finished < _jobs(run_dir) and (run_dir / "model" / "manifest.json").is_file()
    rounds = [json.loads(line) for line in (run_dir / "rounds.jsonl").read_text().splitlines()]
    assert rounds and rounds[0]["round"] == 0
    # what the dead server answered came from the response cache: never asked again
    paid = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    assert sum(1 for r in paid if not r["cached"]) == dying.answered + live.answered
