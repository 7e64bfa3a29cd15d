"""SQLite sample store: every evaluation's per-sample results, resumable and duplicate-free.

One row per (run, task, sample id) with a status (``pending`` / ``done`` / ``error``), the input and
output as JSON text, the last error, the number of attempts and timestamps. Adding samples is
``INSERT OR IGNORE``, so a rerun of the same run adds nothing twice; :func:`process` works through
the rows that are not done yet (failed ones are retried) with bounded concurrency, committing each
result as it finishes, so a run killed half-way loses at most the samples in flight.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelworks.errors import UserError

__all__ = ["SampleStore", "SampleRow", "process", "open_sqlite"]


def open_sqlite(path: str | Path, timeout: float = 30) -> sqlite3.Connection:
    """A WAL-mode SQLite connection in autocommit mode that threads may share (guard it with a lock).

    The one way modelworks opens its SQLite files (sample store, annotation app, embedding cache).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, timeout=timeout, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA schema_version")  # reads the header: a file that is no database fails here
    except sqlite3.DatabaseError as exc:  # includes OperationalError (a folder, no permission)
        if db is not None:
            db.close()
        raise UserError(f"{path}: cannot open as a SQLite database ({exc})") from None
    return db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    run TEXT NOT NULL,
    task TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'error')),
    input TEXT,
    output TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run, task, sample_id)
);
"""


@dataclass
class SampleRow:
    run: str
    task: str
    sample_id: str
    status: str
    input: Any
    output: Any
    error: str | None
    attempts: int
    created_at: float
    updated_at: float


class SampleStore:
    """A WAL-mode SQLite file shared safely by threads of one process (and by later processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = open_sqlite(self.path)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path}: not a usable sample store ({e})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add(self, run: str, task: str, samples: Iterable[tuple[str, Any]], check_inputs: bool = False) -> int:
        """Register samples as pending; ones already present are left as they are. Returns new rows.

        ``check_inputs``: a sample id already stored with a different input is an error (a resumed run
        whose data changed), raised before anything is added."""
        now = time.time()
        rows = [(run, task, str(sid), json.dumps(inp, ensure_ascii=False), now, now) for sid, inp in samples]
        with self._lock:
            if check_inputs:
                stored = dict(self._db.execute("SELECT sample_id, input FROM samples WHERE run=? AND task=?",
                                               (run, task)).fetchall())
                changed = [r[2] for r in rows if r[2] in stored and stored[r[2]] != r[3]]
                if changed:
                    raise UserError(f"{self.path}: {len(changed)} stored samples (first: id {changed[0]}) have other "
                                    "inputs than this run's; resume with the same data, or give a new folder")
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO samples (run, task, sample_id, input, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def todo(self, run: str, task: str, retry_errors: bool = True) -> list[tuple[str, Any]]:
        """Samples not done yet, in insertion order: pending ones, plus failed ones if retried."""
        statuses = ("pending", "error") if retry_errors else ("pending",)
        marks = ",".join("?" for _ in statuses)
        with self._lock:
            cur = self._db.execute(
                f"SELECT sample_id, input FROM samples WHERE run=? AND task=? AND status IN ({marks}) ORDER BY rowid",
                (run, task, *statuses),
            )
            return [(sid, json.loads(inp) if inp is not None else None) for sid, inp in cur.fetchall()]

    def mark_done(self, run: str, task: str, sample_id: str, output: Any) -> None:
        self._finish(run, task, sample_id, "done", json.dumps(output, ensure_ascii=False), None)

    def mark_error(self, run: str, task: str, sample_id: str, error: str) -> None:
        self._finish(run, task, sample_id, "error", None, error)

    def _finish(self, run: str, task: str, sid: str, status: str, output: str | None, error: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE samples SET status=?, output=COALESCE(?, output), error=?, attempts=attempts+1,"
                " updated_at=? WHERE run=? AND task=? AND sample_id=?",
                (status, output, error, time.time(), run, task, str(sid)),
            )

    def rows(self, run: str, task: str | None = None) -> list[SampleRow]:
        sql = "SELECT run, task, sample_id, status, input, output, error, attempts, created_at, updated_at FROM samples WHERE run=?"
        args: tuple[Any, ...] = (run,)
        if task is not None:
            sql += " AND task=?"
            args += (task,)
        with self._lock:
            cur = self._db.execute(sql + " ORDER BY rowid", args)
            out = cur.fetchall()
        return [
            SampleRow(
                r[0],
                r[1],
                r[2],
                r[3],
                json.loads(r[4]) if r[4] else None,
                json.loads(r[5]) if r[5] else None,
                r[6],
                r[7],
                r[8],
                r[9],
            )
            for r in out
        ]

    def counts(self, run: str, task: str | None = None) -> dict[str, int]:
        counts = {"pending": 0, "done": 0, "error": 0}
        for row in self.rows(run, task):
            counts[row.status] += 1
        return counts


def process(
    store: SampleStore,
    run: str,
    task: str,
    fn: Callable[[Any], Any],
    concurrency: int = 4,
    retry_errors: bool = True,
    on_done: Callable[[str, Any], None] | None = None,
) -> dict[str, int]:
    """Run ``fn(input)`` on every sample not done yet; each result is committed as it finishes.

    An exception from ``fn`` is recorded as the sample's error (one line) and the others go on; a
    later call retries it. Returns the status counts afterwards.
    """
    todo = store.todo(run, task, retry_errors=retry_errors)

    def one(sid: str, inp: Any) -> None:
        try:
            out = fn(inp)
        except Exception as exc:  # noqa: BLE001 - recorded per sample, retried on the next call
            store.mark_error(run, task, sid, f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
        store.mark_done(run, task, sid, out)
        if on_done is not None:
            on_done(sid, out)

    if concurrency <= 1:
        for sid, inp in todo:
            one(sid, inp)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for fut in as_completed([pool.submit(one, sid, inp) for sid, inp in todo]):
                fut.result()
    return store.counts(run, task)
