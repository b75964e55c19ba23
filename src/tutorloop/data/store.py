"""The run store: one SQLite file holding every example with its provenance, the run's phases, jobs,
per-round metrics, the agent's actions and small metadata.

Rows are appended or have their status changed, never deleted, so any round's training set can be
rebuilt (``round`` added, ``dropped_round`` removed). Work is recorded in the same transaction as its
results (a finished LLM job and the examples it produced), which is what makes runs resumable after a
crash at any point.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import DataError, StorageError
from .migrations import migrate

if TYPE_CHECKING:
    from ..evaluation.analysis import RoundRecord

_EXAMPLE_COLS = (
    "id",
    "text",
    "label",
    "split",
    "origin",
    "round",
    "attributes",
    "verdict",
    "status",
    "reason",
    "model",
    "prompt_id",
    "job",
    "dropped_round",
)


class ExampleRow(TypedDict):
    """A stored example, as :meth:`Store.examples` returns it (``attributes`` decoded from JSON)."""

    id: int
    text: str
    label: str
    split: str
    origin: str
    round: int
    attributes: dict[str, Any]
    verdict: str | None
    status: str
    reason: str | None
    model: str | None
    prompt_id: str | None
    job: str | None
    dropped_round: int | None


class ActionRow(TypedDict):
    """A logged refinement action, as :meth:`Store.actions` returns it (``args`` decoded from JSON)."""

    id: int
    round: int
    decided_by: str
    tool: str
    args: dict[str, Any]
    reason: str
    status: str


class PlannedAction(TypedDict):
    """An action to log with :meth:`Store.record_plan`."""

    decided_by: str
    tool: str
    args: dict[str, Any]
    reason: str
    status: str


Verdict = tuple[str | None, str, str | None]
"""``(verdict, new_status, reason)`` for :meth:`Store.set_verdicts`."""


@dataclass
class NewExample:
    """An example about to be stored."""

    text: str
    label: str
    split: str = "train"  # train | val
    origin: str = "curated"  # curated | targeted | seed | user | validation
    round: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "active"  # active | pending (awaiting verification) | dropped
    verdict: str | None = None
    model: str | None = None
    prompt_id: str | None = None


# SQLite's primary result codes for a write that failed for lack of room or rights, not for a bug
_STORAGE_FAILURES = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
}

# ... and for a file that is not a SQLite database, or a damaged one
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


ELAPSED_KEY = "elapsed_s"
"""The ``meta`` key of the run's wall-clock seconds so far, over all its attempts (see
:meth:`Store.count_time`)."""


def _code(exc: sqlite3.Error) -> int:
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


class Store:
    """A run's SQLite store (thread-safe; one connection guarded by a lock).

    >>> import tempfile, os
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "store.sqlite"))
    >>> ids = s.add_examples([NewExample("great film", "positive")], job="j1", result={"n": 1})
    >>> [e["label"] for e in s.examples(split="train")], s.job_result("j1")
    (['positive'], {'n': 1})
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._elapsed: Callable[[], float] | None = None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                migrate(self._db)
        except sqlite3.Error as exc:  # not a database, a damaged one, or another program's database
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError) and _code(exc) in _STORAGE_FAILURES:
                raise StorageError(
                    f"Could not open {self.path} ({exc}). Free some space or make the file and its "
                    "folder writable, then resume.",
                    path=str(self.path),
                ) from exc
            raise self._damaged(exc) from exc

    def _damaged(self, exc: sqlite3.Error) -> DataError:
        return DataError(
            f"{self.path} is damaged or is not a tutorloop run store ({exc}). It holds the run's examples "
            "and finished jobs: restore it from a backup, or start a new run in another --out folder "
            "(replies already paid for are served from the LLM response cache unless it was off)."
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate transaction: everything inside is stored together or not at all.

        A full disk, a read-only file or an I/O error becomes a :class:`~tutorloop.errors.StorageError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    if self._elapsed is not None:
                        _put_meta(self._db, ELAPSED_KEY, self._elapsed())
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # SQLite rolls back by itself on some errors (disk full)
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                if _code(exc) in _DAMAGED:
                    raise self._damaged(exc) from exc
                if not isinstance(exc, sqlite3.OperationalError) or _code(exc) not in _STORAGE_FAILURES:
                    raise
                raise StorageError(
                    f"Could not write to {self.path} ({exc}). Nothing half-written was kept: free some "
                    "space (or make the file writable), then resume; the run continues where it stopped.",
                    path=str(self.path),
                ) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:
                if _code(exc) in _DAMAGED:
                    raise self._damaged(exc) from exc
                raise

    # -- examples ---------------------------------------------------------------------------------------
    def add_examples(
        self, rows: Sequence[NewExample], *, job: str | None = None, result: Any = None
    ) -> list[int]:
        """Insert ``rows``; when ``job`` is given, record it as finished in the same transaction."""
        ids = []
        with self.transaction() as db:
            for r in rows:
                cur = db.execute(
                    "INSERT INTO examples (text, label, split, origin, round, attributes, verdict, status,"
                    " model,"
                    " prompt_id, job) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        r.text,
                        r.label,
                        r.split,
                        r.origin,
                        r.round,
                        json.dumps(r.attributes, ensure_ascii=False),
                        r.verdict,
                        r.status,
                        r.model,
                        r.prompt_id,
                        job,
                    ),
                )
                ids.append(_rowid(cur))
            if job is not None:
                db.execute(
                    "INSERT OR REPLACE INTO jobs (key, result) VALUES (?, ?)", (job, json.dumps(result))
                )
        return ids

    def examples(
        self,
        *,
        split: str | None = None,
        status: str | Sequence[str] | None = "active",
        label: str | None = None,
        origin: str | None = None,
    ) -> list[ExampleRow]:
        """Examples as dicts (``attributes`` decoded), oldest first. ``status=None`` returns every status."""
        where, params = [], []
        if split is not None:
            where.append("split = ?")
            params.append(split)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += statuses
        if label is not None:
            where.append("label = ?")
            params.append(label)
        if origin is not None:
            where.append("origin = ?")
            params.append(origin)
        sql = f"SELECT {', '.join(_EXAMPLE_COLS)} FROM examples"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_row(r) for r in self._query(sql + " ORDER BY id", params)]

    def example(self, example_id: int) -> ExampleRow | None:
        rows = self._query(f"SELECT {', '.join(_EXAMPLE_COLS)} FROM examples WHERE id = ?", (example_id,))
        return _row(rows[0]) if rows else None

    def train_set_at(self, round_idx: int) -> list[ExampleRow]:
        """The training examples that were active at the end of round ``round_idx``."""
        sql = (
            f"SELECT {', '.join(_EXAMPLE_COLS)} FROM examples WHERE split = 'train' AND round <= ?"
            " AND status IN ('active', 'dropped') AND (dropped_round IS NULL OR dropped_round > ?)"
            " AND NOT (status = 'dropped' AND dropped_round IS NULL) ORDER BY id"
        )
        return [_row(r) for r in self._query(sql, (round_idx, round_idx))]

    def set_verdicts(
        self,
        verdicts: dict[int, Verdict],
        *,
        job: str | None = None,
        result: Any = None,
        round_idx: int | None = None,
    ) -> None:
        """``{id: (verdict, new_status, reason)}``, plus the finished ``job``, in one transaction."""
        with self.transaction() as db:
            for ex_id, (verdict, status, reason) in verdicts.items():
                db.execute(
                    "UPDATE examples SET verdict = ?, status = ?, reason = ?, dropped_round = ? WHERE id = ?",
                    (verdict, status, reason, round_idx if status == "dropped" else None, ex_id),
                )
            if job is not None:
                db.execute(
                    "INSERT OR REPLACE INTO jobs (key, result) VALUES (?, ?)", (job, json.dumps(result))
                )

    def drop(self, ids: Sequence[int], *, reason: str, round_idx: int) -> int:
        """Mark active examples dropped (they stay in the store); returns how many changed."""
        with self.transaction() as db:
            n = 0
            for ex_id in ids:
                n += db.execute(
                    "UPDATE examples SET status = 'dropped', reason = ?, dropped_round = ? "
                    "WHERE id = ? AND status = 'active'",
                    (reason, round_idx, ex_id),
                ).rowcount
        return n

    def relabel(self, example_id: int, label: str, *, reason: str, round_idx: int) -> int | None:
        """Drop example ``example_id`` and add a copy with ``label`` (history is kept); returns the new id."""
        old = self.example(example_id)
        if old is None or old["status"] != "active":
            return None
        with self.transaction() as db:
            db.execute(
                "UPDATE examples SET status = 'dropped', reason = ?, dropped_round = ? WHERE id = ?",
                (f"relabelled to {label}: {reason}", round_idx, example_id),
            )
            attrs = dict(old["attributes"]) | {"relabelled_from": old["label"], "source_id": example_id}
            cur = db.execute(
                "INSERT INTO examples (text, label, split, origin, round, attributes, verdict, status, model,"
                " prompt_id, job, reason) VALUES (?,?,?,?,?,?,?,'active',?,?,?,?)",
                (
                    old["text"],
                    label,
                    old["split"],
                    old["origin"],
                    round_idx,
                    json.dumps(attrs),
                    old["verdict"],
                    old["model"],
                    old["prompt_id"],
                    old["job"],
                    reason,
                ),
            )
        return _rowid(cur)

    def counts(self, split: str = "train") -> dict[str, int]:
        """Active examples per label."""
        rows = self._query(
            "SELECT label, COUNT(*) FROM examples WHERE split = ? AND status = 'active' GROUP BY label",
            (split,),
        )
        return {label: int(n) for label, n in rows}

    # -- jobs and phases ------------------------------------------------------------------------------------
    def job_result(self, key: str) -> Any:
        """The recorded result of a finished job, or ``None`` if it has not finished."""
        rows = self._query("SELECT result FROM jobs WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def finish_job(self, key: str, result: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO jobs (key, result) VALUES (?, ?)", (key, json.dumps(result)))

    def phase_done(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM phases WHERE name = ?", (name,)))

    def phase_info(self, name: str) -> Any:
        rows = self._query("SELECT info FROM phases WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else None

    def finish_phase(self, name: str, info: Any = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO phases (name, info) VALUES (?, ?)", (name, json.dumps(info)))

    # -- rounds --------------------------------------------------------------------------------------------
    def save_round(self, round_idx: int, record: RoundRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO rounds (round, metrics) VALUES (?, ?)",
                (round_idx, json.dumps(record, ensure_ascii=False)),
            )

    def rounds(self) -> list[RoundRecord]:
        """Per-round records (with their ``analysis``), in round order."""
        return [json.loads(m) for (m,) in self._query("SELECT metrics FROM rounds ORDER BY round")]

    # -- actions -------------------------------------------------------------------------------------------
    def record_plan(self, round_idx: int, actions: Sequence[PlannedAction], *, phase: str, info: Any) -> None:
        """Log a round's decided actions and mark the decision ``phase`` finished, in one transaction."""
        with self.transaction() as db:
            for a in actions:
                db.execute(
                    "INSERT INTO actions (round, decided_by, tool, args, reason, status)"
                    " VALUES (?,?,?,?,?,?)",
                    (
                        round_idx,
                        a["decided_by"],
                        a["tool"],
                        json.dumps(a["args"], ensure_ascii=False),
                        a["reason"],
                        a["status"],
                    ),
                )
            db.execute("INSERT OR REPLACE INTO phases (name, info) VALUES (?, ?)", (phase, json.dumps(info)))

    def actions(self, round_idx: int | None = None) -> list[ActionRow]:
        """Logged actions (of one round, or all), oldest first."""
        sql = "SELECT id, round, decided_by, tool, args, reason, status FROM actions"
        rows = self._query(
            sql + (" WHERE round = ? ORDER BY id" if round_idx is not None else " ORDER BY id"),
            (round_idx,) if round_idx is not None else (),
        )
        return [
            {
                "id": r[0],
                "round": r[1],
                "decided_by": r[2],
                "tool": r[3],
                "args": json.loads(r[4]),
                "reason": r[5],
                "status": r[6],
            }
            for r in rows
        ]

    # -- metadata ------------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            _put_meta(db, key, value)

    # -- the run's wall-clock time ---------------------------------------------------------------------------
    def count_time(self, elapsed: Callable[[], float]) -> None:
        """From now on every transaction also stores ``elapsed()`` (the run's seconds so far, earlier
        attempts included) under ``meta`` ``elapsed_s``, committed with the work it covers. A process
        killed outright (SIGKILL, power loss) thus loses only the time since its last committed write."""
        self._elapsed = elapsed

    def elapsed_before(self) -> float:
        """The run's wall-clock seconds as last stored (0 for a new run)."""
        return float(self.get_meta(ELAPSED_KEY, 0.0))

    def save_elapsed(self) -> None:
        """Store the elapsed time now (a transaction of its own; nothing when :meth:`count_time` was not
        called)."""
        if self._elapsed is not None:
            with self.transaction():
                pass


def _put_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False))
    )


def _row(r: tuple) -> ExampleRow:
    d = dict(zip(_EXAMPLE_COLS, r, strict=True))
    d["attributes"] = json.loads(d["attributes"]) if d["attributes"] else {}
    return ExampleRow(**d)  # type: ignore[typeddict-item]


def _rowid(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None  # set by every INSERT
    return int(cursor.lastrowid)
