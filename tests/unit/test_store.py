"""Run store: provenance, atomic jobs, rebuildable rounds, append-only named migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tutorloop.data.migrations import MIGRATIONS, applied, migrate
from tutorloop.data.store import NewExample, Store


def test_examples_keep_provenance(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.sqlite")
    [i] = s.add_examples(
        [
            NewExample(
                "great film",
                "pos",
                attributes={"topic": "acting"},
                model="m",
                prompt_id="generate@abc",
                status="pending",
            )
        ],
        job="j",
    )
    s.set_verdicts({i: ("pos", "active", None)})
    e = s.example(i)
    assert (e["verdict"], e["status"], e["attributes"], e["model"], e["prompt_id"], e["job"]) == (
        "pos",
        "active",
        {"topic": "acting"},
        "m",
        "generate@abc",
        "j",
    )


def test_job_and_examples_are_stored_together(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.sqlite")
    with pytest.raises(Exception):  # noqa: B017 - a bad row makes the whole job roll back
        s.add_examples([NewExample("a", "x"), NewExample(None, "y")], job="j1", result=2)  # type: ignore[arg-type]
    assert s.job_result("j1") is None and s.examples(status=None) == []


def test_train_set_at_rebuilds_any_round(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.sqlite")
    a, b = s.add_examples([NewExample("a", "x"), NewExample("b", "y")])
    [c] = s.add_examples([NewExample("c", "x", round=1)])
    s.drop([a], reason="mislabelled", round_idx=2)
    new = s.relabel(b, "x", reason="agent", round_idx=2)
    assert [e["text"] for e in s.train_set_at(0)] == ["a", "b"]
    assert [e["text"] for e in s.train_set_at(1)] == ["a", "b", "c"]
    assert [(e["text"], e["label"]) for e in s.train_set_at(2)] == [("c", "x"), ("b", "x")]
    assert s.example(new)["attributes"]["relabelled_from"] == "y"
    assert s.drop([a], reason="again", round_idx=3) == 0


def test_phases_rounds_actions_meta(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.sqlite")
    s.record_plan(
        1,
        [
            {
                "decided_by": "policy",
                "tool": "generate",
                "args": {"label": "x"},
                "reason": "weak",
                "status": "accepted",
            }
        ],
        phase="decide:1",
        info={"diagnosis": "d"},
    )
    s.save_round(0, {"round": 0, "macro_f1": 0.5})
    s.set_meta("k", {"a": 1})
    s.close()
    s = Store(tmp_path / "s.sqlite")
    assert s.phase_done("decide:1") and s.phase_info("decide:1") == {"diagnosis": "d"}
    assert s.actions(1)[0]["tool"] == "generate" and s.rounds() == [{"round": 0, "macro_f1": 0.5}]
    assert s.get_meta("k") == {"a": 1} and s.get_meta("missing", 3) == 3


def test_migrations_are_named_recorded_and_upgrade_old_stores(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:1])  # a store written before 002 existed
    db.execute(
        "INSERT INTO examples (text, label, split, origin, round) VALUES ('t', 'x', 'train', 'user', 0)"
    )
    db.close()
    s = Store(path)
    assert s.examples()[0]["text"] == "t" and s.examples()[0]["dropped_round"] is None
    db = sqlite3.connect(path, isolation_level=None)
    assert applied(db) == [name for name, _ in MIGRATIONS]
    assert migrate(db) == []  # idempotent


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE t (a)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrate(db, [("001_bad", bad)])
    assert applied(db) == [] and not db.execute("SELECT name FROM sqlite_master WHERE name='t'").fetchall()


def test_a_full_disk_is_a_storage_error_and_the_store_stays_usable(tmp_path: Path) -> None:
    from tutorloop.errors import StorageError

    s = Store(tmp_path / "s.sqlite")
    s.add_examples([NewExample("kept", "a")], job="j1")
    # a real SQLITE_FULL: the file may not grow past its current size (SQLite then rolls back by itself)
    pages = s._db.execute("PRAGMA page_count").fetchone()[0]
    s._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(
        StorageError, match=r"s\.sqlite \(database or disk is full\)\. .* then resume"
    ) as info:
        s.add_examples([NewExample("x" * 100_000, "b")], job="j2", result=1)
    assert info.value.path == str(tmp_path / "s.sqlite")
    assert s.job_result("j2") is None and [e["text"] for e in s.examples(status=None)] == ["kept"]
    s._db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the same store takes the job
    s.add_examples([NewExample("x" * 100_000, "b")], job="j2", result=1)
    assert s.job_result("j2") == 1 and len(s.examples(status=None)) == 2
    s.close()
