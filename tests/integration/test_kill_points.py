"""SIGKILL ``tutorloop run`` at many points across its phases, then ``--resume``: the end state equals an
uninterrupted run's, no example is lost or doubled, and no LLM call is paid twice.

Each scenario first runs uninterrupted (``python -m killhook run ...``, the real CLI with the ``scripted``
backend and the test-only hooks of ``killhook.py``), from an empty response cache. Its journal (every
committed store write, every reply put in the cache, every step of the model swap, the run's last file
writes) is what the kill points are chosen from: the journal's events fall into phases (:func:`phase`),
and each phase gets its first and last event as kill points (a few steps are named outright).
:func:`test_every_phase_of_the_journal_has_kill_points` fails when the loop gains a phase no kill point
covers.

Each kill point then gets a fresh run folder and an empty cache: the run SIGKILLs itself right after that
event, ``tutorloop run --resume`` (no hooks' kill) finishes it, and the test compares with the reference:
every stored example (all columns, ids included), the jobs and their results, the logged actions, the
store's ``meta`` (all but the run's wall-clock ``elapsed_s``, which must be in the killed store and grow on
resume), ``rounds.jsonl`` (all but wall-clock ``seconds``), the kept model's manifest metrics and
predictions, and the paid calls (the backend writes each request it really answers): each request is paid
once across the killed process and the resume, the same requests as the reference, and ``ledger.jsonl``
counts each paid call once.

A representative subset runs in the normal suite; all kill points run with::

    TUTORLOOP_ALL_KILL_POINTS=1 python -m pytest tests/integration/test_kill_points.py
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scripted_backend import install

from tutorloop.data.store import ELAPSED_KEY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ALL = os.environ.get("TUTORLOOP_ALL_KILL_POINTS") == "1"
ALL_ONLY = pytest.mark.skipif(not ALL, reason="one of all kill points: set TUTORLOOP_ALL_KILL_POINTS=1")

COMMON = ["--llm", "scripted", "--classifier", "tfidf", "--rounds", "2", "--json"]
SCENARIOS: dict[str, tuple[list[str], dict[str, str]]] = {
    # synthetic texts: sub-topics, validation and training generation, blind verification (some texts
    # carry the other label's cues, so some are disputed), a top-up, the policy's generate actions, and a
    # better model each round (so the model swap replaces an old model)
    "synthetic": (COMMON + ["--examples-per-label", "6", "--val-per-label", "3"], {"KILL_MISLABEL": "1"}),
    # unlabelled pool: labelled validation texts, label descriptions (anchors), teacher labelling with
    # stored plans, self-labels, the policy's label_pool actions
    "pool": (COMMON + ["--unlabelled", "POOL"], {"KILL_FAKE_ENCODER": "1"}),
}

_PHASES = [
    (r"add_examples:seed$", "seed"),
    (r"finish_job:topics:", "topics"),
    (r"add_examples:gen:val:", "generate-val"),
    (r"add_examples:gen:train:", "generate-train"),
    (r"add_examples:gen:train\+:", "top-up"),
    (r"add_examples:gen:r\d+:", "refine-generate"),
    (r"add_examples:val-unlabelled:", "label-validation-texts"),
    (r"add_examples:pool:0:", "teacher-label-pool"),
    (r"add_examples:pool:\d+:\d+:\d+$", "refine-label-pool"),
    (r"add_examples:self-labels$", "self-labels"),
    (r"set_verdicts:verify:", "verify"),
    (r"finish_job:anchors$", "anchors"),
    (r"finish_job:.*:plan$", "pool-plan"),
    (r"finish_job:act:", "action"),
    (r"finish_phase:curate$", "curate-done"),
    (r"record_plan:decide:", "decide"),
    (r"(rename|rmtree):", "model-swap"),
    (r"save_round:", "round-record"),
    (r"(write:rounds\.jsonl|set_meta:stopped|write_report)$", "finish"),
    (r"cache_put$", "answered-not-stored"),
    (r"ledger_row$", "ledgered-not-stored"),
]


def phase(event: str) -> str:
    """The phase of a journal event (``LABEL#K``)."""
    label = event.rsplit("#", 1)[0]
    for pattern, name in _PHASES:
        if re.match(pattern, label):
            return name
    raise AssertionError(f"journal event {event!r} belongs to no known phase: add it to _PHASES")


# (scenario, phase, which): which is "first" or "last" event of the phase, "before:EVENT" (the event just
# before EVENT) or an event itself
POINTS: list[tuple[str, str, str]] = []
for _scenario, _phases in {
    "synthetic": [
        "seed",
        "topics",
        "generate-val",
        "generate-train",
        "verify",
        "top-up",
        "curate-done",
        "round-record",
        "decide",
        "refine-generate",
        "action",
        "answered-not-stored",
        "ledgered-not-stored",
        "finish",
    ],
    "pool": [
        "seed",
        "label-validation-texts",
        "anchors",
        "pool-plan",
        "teacher-label-pool",
        "self-labels",
        "curate-done",
        "round-record",
        "decide",
        "refine-label-pool",
        "action",
        "answered-not-stored",
        "ledgered-not-stored",
        "finish",
    ],
}.items():
    for _phase in _phases:
        POINTS += [(_scenario, _phase, "first"), (_scenario, _phase, "last")]
POINTS += [
    ("synthetic", "model-swap", "rename:model.tmp->model#1"),  # round 0's model, the first one
    ("synthetic", "model-swap", "rename:model->model.old#1"),  # no model/ at all, only model.old/
    ("synthetic", "model-swap", "rename:model.tmp->model#2"),  # new model/ and model.old/ both there
    ("synthetic", "model-swap", "rmtree:model.old#1"),  # saved, round not recorded yet
    ("synthetic", "finish", "set_meta:stopped#1"),  # rounds.jsonl written, report not
    ("pool", "model-swap", "rename:model.tmp->model#1"),
    ("pool", "answered-not-stored", "before:finish_job:anchors#1"),  # label descriptions, no job key
]
# one representative per kind of step, for the normal suite
CI = {
    ("synthetic", "verify", "first"),  # an LLM phase of curation
    ("synthetic", "model-swap", "rename:model->model.old#1"),  # inside the model swap
    ("synthetic", "answered-not-stored", "last"),  # a reply cached but neither ledgered nor stored
    ("pool", "refine-label-pool", "first"),  # a refinement action's batch, with its stored plan
}


@dataclass
class Outcome:
    run_dir: Path
    journal: list[str]
    calls: list[str]
    stdout: str


def run_cli(
    args: list[str], work: Path, env: dict[str, str], *, tag: str, kill_at: str = ""
) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    journal, calls = work / f"journal-{tag}.txt", work / f"calls-{tag}.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "killhook", *args],
        cwd=work,
        env={**env, "KILL_AT": kill_at, "KILL_JOURNAL": str(journal), "KILL_CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    read = lambda p: p.read_text().splitlines() if p.exists() else []  # noqa: E731
    return proc, read(journal), read(calls)


def scenario_env(scenario: str, work: Path) -> tuple[list[str], dict[str, str]]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "task.yaml").write_text("task: Sentiment of movie reviews\nlabels: [positive, negative]\n")
    args, extra = SCENARIOS[scenario]
    if scenario == "pool":
        pool = work / "pool.txt"
        pool.write_text("".join(_pool_line(i) for i in range(120)))
        args = [str(pool) if a == "POOL" else a for a in args]
    env = {**install(work / "plugin"), **extra, "TUTORLOOP_HOME": str(work / "home")}
    return ["run", "task.yaml", "--out", str(work / "run"), *args], env


def _pool_line(i: int) -> str:
    words = ["film", "plot", "cast", "music", "scene", "ending", "pace", "story", "camera", "script"]
    cue = [("wonderful", "loved", "brilliant"), ("awful", "hated", "boring")][i % 2][i % 3]
    w = [words[(i * 7 + k * 3) % len(words)] for k in range(4)]
    return f"The {w[0]} was {cue}, {w[1]} {w[2]} {w[3]} number {i}.\n"


_REFERENCES: dict[str, Outcome] = {}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Any:
    def get(scenario: str) -> Outcome:
        if scenario not in _REFERENCES:
            work = tmp_path_factory.mktemp(f"reference-{scenario}")
            args, env = scenario_env(scenario, work)
            proc, journal, calls = run_cli(args, work, env, tag="ref")
            assert proc.returncode == 0, proc.stderr
            _REFERENCES[scenario] = Outcome(work / "run", journal, calls, proc.stdout)
        return _REFERENCES[scenario]

    return get


def choose(journal: list[str], phase_name: str, which: str) -> str:
    if which.startswith("before:"):
        return journal[journal.index(which.removeprefix("before:")) - 1]
    if which not in ("first", "last"):
        assert which in journal, f"{which} is not in the reference run's journal"
        assert phase(which) == phase_name
        return which
    events = [e for e in journal if phase(e) == phase_name]
    assert events, f"the reference run has no {phase_name} event"
    return events[0] if which == "first" else events[-1]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_phase_of_the_journal_has_kill_points(reference: Any, scenario: str) -> None:
    ref = reference(scenario)
    phases = {phase(e) for e in ref.journal}
    covered = {p for s, p, _ in POINTS if s == scenario}
    assert phases == covered, f"phases without kill points: {phases - covered}; gone: {covered - phases}"
    assert {p for s, p, _ in CI} <= {p for _, p, _ in POINTS}


@pytest.mark.parametrize(
    ("scenario", "phase_name", "which"),
    [
        pytest.param(*p, id=f"{p[0]}-{p[1]}-{p[2]}", marks=() if p in CI else ALL_ONLY)
        for p in dict.fromkeys(POINTS)
    ],
)
def test_killed_run_resumes_to_the_uninterrupted_result(
    reference: Any, tmp_path: Path, scenario: str, phase_name: str, which: str
) -> None:
    ref = reference(scenario)
    point = choose(ref.journal, phase_name, which)
    if which == "last" and point == choose(ref.journal, phase_name, "first"):
        pytest.skip(f"the reference run has one {phase_name} event: the same point as its first")
    args, env = scenario_env(scenario, tmp_path)
    started = time.monotonic()
    killed, journal, paid_before = run_cli(args, tmp_path, env, tag="killed", kill_at=point)
    killed_for = time.monotonic() - started
    assert killed.returncode == -9, f"not killed at {point} (exit {killed.returncode}): {killed.stderr}"
    assert journal[-1] == point  # it died right after that step, where the reference went on
    assert journal == ref.journal[: len(journal)]  # on the same path as the reference up to there
    # the time spent so far was committed with the last write, so the time budget survives the kill
    spent_before = elapsed(tmp_path / "run")
    assert 0 < spent_before < killed_for

    resume = ["run", "--resume", str(tmp_path / "run"), "--json"]
    resumed, _, paid_after = run_cli(resume, tmp_path, env, tag="resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_end_state(tmp_path / "run", ref.run_dir)
    assert elapsed(tmp_path / "run") > spent_before  # the resume went on from it
    paid = Counter(paid_before + paid_after)
    assert [k for k, n in paid.items() if n > 1] == [], "requests paid twice"
    assert paid == Counter(ref.calls), "not the reference run's paid requests"
    assert ledger_paid(tmp_path / "run") == ledger_paid(ref.run_dir) == len(ref.calls)


def assert_same_end_state(run: Path, ref: Path) -> None:
    got, want = store_state(run / "store.sqlite"), store_state(ref / "store.sqlite")
    for table in want:
        assert got[table] == want[table], f"{table} differ from the uninterrupted run's"
    assert rounds(run) == rounds(ref)
    assert model_state(run) == model_state(ref)


def store_state(path: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(examples)") if c[1] != "created"]
        examples = db.execute(f"SELECT {', '.join(columns)} FROM examples ORDER BY id").fetchall()
        jobs = dict(db.execute("SELECT key, result FROM jobs").fetchall())
        actions = db.execute("SELECT round, decided_by, tool, args, reason, status FROM actions ORDER BY id")
        phases = {
            name: {k: v for k, v in json.loads(info).items() if k != "seconds"} if info != "null" else None
            for name, info in db.execute("SELECT name, info FROM phases")
        }
        # all but the run's wall-clock time (which no two runs share)
        meta = {k: v for k, v in db.execute("SELECT key, value FROM meta") if k != ELAPSED_KEY}
        return {
            "examples": examples,
            "jobs": jobs,
            "actions": actions.fetchall(),
            "phases": phases,
            "meta": meta,
        }


def elapsed(run: Path) -> float:
    """The run's wall-clock seconds as its store holds them (``meta`` ``elapsed_s``)."""
    with sqlite3.connect(f"file:{run / 'store.sqlite'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (ELAPSED_KEY,)).fetchone()
    assert row is not None, "no elapsed time in the store"
    return float(json.loads(row[0]))


def rounds(run: Path) -> list[dict[str, Any]]:
    """``rounds.jsonl`` without the wall-clock ``seconds``."""
    out = []
    for line in (run / "rounds.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("seconds")
        out.append(record)
    return out


def model_state(run: Path) -> dict[str, Any]:
    from tutorloop.classifiers import load

    manifest = json.loads((run / "model" / "manifest.json").read_text())
    texts = [_pool_line(i) for i in range(0, 40, 3)] + ["I loved it", "boring and awful", "fine"]
    model = load(run / "model")
    assert not (run / "model.old").exists() and not (run / "model.tmp").exists()
    return {
        "metrics": manifest.get("metrics"),
        "extra": {k: v for k, v in manifest.items() if k not in ("created", "files", "metrics")},
        "predictions": [round(float(p), 6) for row in model.predict_proba(texts) for p in row],
    }


def ledger_paid(run: Path) -> int:
    rows = [json.loads(line) for line in (run / "ledger.jsonl").read_text().splitlines()]
    return sum(1 for r in rows if not r["cached"])
