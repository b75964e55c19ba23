"""SIGTERM, and SIGINT in a background job, stop ``tutorloop run`` / ``bench`` cleanly: real subprocesses.

Each test starts ``python -m tutorloop`` with the ``scripted`` backend (a FakeLLM plugin that sleeps before
each reply, see ``scripted_backend.py``), waits until some work is stored, sends the signal, and checks the
exit code, the message, and that running again finishes the work.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scripted_backend import install
from test_cli_bench import make_set

from tutorloop.cli.main import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

RUN = ["--llm", "scripted", "--classifier", "tfidf", "--rounds", "1", "--examples-per-label", "6"]
RUN += ["--val-per-label", "3", "--no-cache"]


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {**install(tmp_path / "plugin"), "TUTORLOOP_HOME": str(tmp_path / "home")}


def start(
    args: list[str], env: dict[str, str], cwd: Path, *, ignore_sigint: bool = False
) -> subprocess.Popen:
    def dispositions() -> None:
        # the child starts as from an interactive shell, whatever the test runner inherited (under
        # `nohup` SIGHUP arrives ignored, and an ignored signal stays ignored across exec)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        if ignore_sigint:  # what a non-interactive shell does to a background job (`cmd &`)
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "tutorloop", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=dispositions,
    )


def wait_for(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"finished before the signal (code {proc.returncode}): {proc.communicate()[1]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("no work was stored in time")
        time.sleep(0.05)


def jobs(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{signal.Signals(sig).name} did not stop the process")
    return proc.returncode, err


@pytest.mark.parametrize(
    ("sig", "code", "ignore_sigint"),
    [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True), (signal.SIGHUP, 129, False)],
    ids=["sigterm", "sigint-in-background-job", "sighup-terminal-closed"],
)
def test_signal_stops_run_with_resume_hint_and_resume_finishes(
    tmp_path: Path, env: dict[str, str], sig: int, code: int, ignore_sigint: bool
) -> None:
    (tmp_path / "task.yaml").write_text("task: Sentiment of movie reviews\nlabels: [positive, negative]\n")
    out = tmp_path / "run"
    slow = {**env, "SCRIPTED_DELAY_S": "0.2"}
    proc = start(["run", "task.yaml", "--out", str(out), *RUN], slow, tmp_path, ignore_sigint=ignore_sigint)
    wait_for(proc, lambda: jobs(out / "store.sqlite") >= 1)
    returncode, err = stop(proc, sig)
    assert returncode == code, err
    assert f"Interrupted. Nothing finished is lost: tutorloop run --resume {out}" in err
    assert "Traceback" not in err
    assert not (out / "rounds.jsonl").exists()  # stopped mid-run, not at the end
    done = jobs(out / "store.sqlite")
    assert done >= 1

    resumed = subprocess.run(
        [sys.executable, "-m", "tutorloop", "run", "--resume", str(out), "--json", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert [h["round"] for h in result["history"]] == [0, 1]
    assert jobs(out / "store.sqlite") > done


def test_sigterm_keeps_finished_bench_cells_and_rerun_resumes(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out"
    args = ["bench", "--data", str(make_set(tmp_path, per_class=10)), "--methods", "zero-shot-llm"]
    args += ["--llm", "scripted", "--seeds", "2", "--k", "2", "--out", str(out), "--no-progress"]
    cells = out / "cells" / "reviews"
    replies = tmp_path / "replies.txt"
    proc = start(args, {**env, "SCRIPTED_DELAY_S": "0.3", "SCRIPTED_REPLIES_FILE": str(replies)}, tmp_path)
    wait_for(proc, lambda: (cells / "seed0" / "zero-shot-llm.json").exists())
    seed0_calls = len(replies.read_text().splitlines())
    # signal while seed 1's cell is calling the LLM (not between cells: a loaded machine can stall there)
    wait_for(proc, lambda: len(replies.read_text().splitlines()) > seed0_calls)
    returncode, err = stop(proc, signal.SIGTERM)
    assert returncode == 143, err
    assert "Interrupted" in err and "same --out" in err and "Traceback" not in err
    assert (cells / "seed1" / "zero-shot-llm.partial.json").exists()  # time spent so far, for wall_s
    assert not (cells / "seed1" / "zero-shot-llm.json").exists()
    first = (cells / "seed0" / "zero-shot-llm.json").stat().st_mtime_ns

    again = subprocess.run(
        [sys.executable, "-m", "tutorloop", *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert (cells / "seed0" / "zero-shot-llm.json").stat().st_mtime_ns == first  # kept, not redone
    cell = json.loads((cells / "seed1" / "zero-shot-llm.json").read_text())
    assert "resumed after an interruption" in cell["notes"][-1]


def test_the_callers_handlers_come_back_after_the_command(tmp_path: Path) -> None:
    def mine(signum: int, frame: object) -> None:
        pass

    before = signal.signal(signal.SIGTERM, mine), signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(SystemExit):  # fails in open_run, inside the handlers' block
            main(["run", "--resume", str(tmp_path / "nothing")])
        with pytest.raises(SystemExit):
            main(["bench", "--data", str(tmp_path / "nowhere"), "--methods", "few-shot-tfidf"])
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


def test_sighup_stays_ignored_under_nohup() -> None:
    """``nohup tutorloop run …`` must survive the terminal closing: an ignored SIGHUP is left ignored."""
    from tutorloop.cli.signals import interruptible

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with interruptible():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with interruptible():
            assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGHUP, before)


def test_an_interrupt_that_native_code_turned_into_another_error_still_stops_the_ctrl_c_way() -> None:
    """pydantic-core once caught the KeyboardInterrupt a SIGTERM raised in a callback and raised
    ``SchemaError: Terminated: SIGTERM`` instead: the command printed a traceback and exited 1."""
    from tutorloop.cli.signals import exit_code, interruptible

    with pytest.raises(KeyboardInterrupt) as info:
        with interruptible():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler runs at the next bytecode
            except KeyboardInterrupt as exc:
                raise ValueError(f"wrapped: {exc}") from None
    assert exit_code(info.value) == 143 and isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="no signal"):  # without a signal, an error stays itself
        with interruptible():
            raise ValueError("no signal")
