"""Ordered, named, append-only schema migrations of the run store.

Each migration runs once, inside a transaction, and is recorded in the ``_migrations`` table. Never edit
or reorder a released migration: append a new one. Opening an old store upgrades it in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _m001_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE examples (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            label TEXT NOT NULL,
            split TEXT NOT NULL,              -- train | val
            origin TEXT NOT NULL,             -- curated | targeted | seed | user | validation
            round INTEGER NOT NULL,
            attributes TEXT,                  -- JSON: sub-topic, length, style, noise, or the error targeted
            verdict TEXT,                     -- the LLM's blind label, or null when not verified
            status TEXT NOT NULL DEFAULT 'active',   -- active | dropped
            reason TEXT,                      -- why it was dropped or relabelled
            model TEXT,
            prompt_id TEXT,
            job TEXT,                         -- the job that produced it
            created REAL DEFAULT (unixepoch())
        );
        CREATE INDEX examples_split ON examples(split, status);
        CREATE TABLE jobs (key TEXT PRIMARY KEY, result TEXT, created REAL DEFAULT (unixepoch()));
        CREATE TABLE phases (name TEXT PRIMARY KEY, info TEXT, created REAL DEFAULT (unixepoch()));
        CREATE TABLE rounds (
            round INTEGER PRIMARY KEY, metrics TEXT NOT NULL, created REAL DEFAULT (unixepoch())
        );
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY, round INTEGER NOT NULL, decided_by TEXT NOT NULL, tool TEXT NOT NULL,
            args TEXT NOT NULL, reason TEXT, status TEXT NOT NULL, created REAL DEFAULT (unixepoch())
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Statement by statement (not executescript, which commits): the whole migration stays one transaction.
    script = "\n".join(line.split("--")[0] for line in script.splitlines())
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m002_dropped_round(db: sqlite3.Connection) -> None:
    # The round in which an example left the training set, so that any round's data can be rebuilt.
    db.execute("ALTER TABLE examples ADD COLUMN dropped_round INTEGER")


MIGRATIONS: list[Migration] = [
    ("001_initial", _m001_initial),
    ("002_dropped_round", _m002_dropped_round),
]


def applied(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied to ``db``."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL DEFAULT (unixepoch()))"
    )
    return [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every migration not applied yet, in order, each in its own transaction; returns their names.

    ``db`` must be in autocommit mode (``isolation_level=None``) so that DDL joins the explicit transaction.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    done = set(applied(db))
    new = []
    for name, fn in migrations:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        new.append(name)
    return new
