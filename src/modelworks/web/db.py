"""The annotation database (stdlib sqlite3, every query parameterised).

Tables: items, annotators (token stored as SHA-256; ``active`` = in the current roster),
assignments (item x annotator, k per item, balanced by load), labels (item x annotator x
dimension), submissions (done | skipped), sessions (random id + CSRF token, valid for
``session_ttl_s`` seconds). One file per annotation project; safe to restart: items are added with
INSERT OR IGNORE and existing assignments are kept. The roster given at each start is the truth:
an annotator left out is deactivated (finished labels kept, open assignments handed to others,
sessions deleted), and a changed token ends that annotator's sessions.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from pathlib import Path

from modelworks.errors import UserError
from modelworks.web.schema import AnnotationItem, LabelSchema

__all__ = ["AnnotationDB", "hash_token"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, position INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS assignments (item_id TEXT NOT NULL, annotator TEXT NOT NULL,
    PRIMARY KEY (item_id, annotator));
CREATE TABLE IF NOT EXISTS labels (item_id TEXT NOT NULL, annotator TEXT NOT NULL, dimension TEXT NOT NULL,
    value INTEGER NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (item_id, annotator, dimension));
CREATE TABLE IF NOT EXISTS submissions (item_id TEXT NOT NULL, annotator TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'skipped')), updated_at REAL NOT NULL,
    PRIMARY KEY (item_id, annotator));
CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, annotator TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at REAL NOT NULL);
"""


SESSION_TTL_S = 12 * 3600  # a login lasts one working day
_URL_UNSAFE_IDS = ("", ".", "..")  # a browser rewrites /item/. and /item/.. before sending them


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AnnotationDB:
    def __init__(self, path: str | Path, session_ttl_s: float = SESSION_TTL_S) -> None:
        from modelworks.store import open_sqlite

        self.path = Path(path)
        self.session_ttl_s = session_ttl_s
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path)
        self._db.executescript(_SCHEMA)
        if "active" not in [r[1] for r in self._db.execute("PRAGMA table_info(annotators)")]:  # older files
            self._db.execute("ALTER TABLE annotators ADD COLUMN active INTEGER NOT NULL DEFAULT 1")

    def _q(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- setup --------------------------------------------------------------------------------
    def add_items(self, items: list[AnnotationItem]) -> None:
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise UserError("annotation items must have unique ids")
        for i in ids:
            if i in _URL_UNSAFE_IDS:
                raise UserError(f"annotation item id {i!r} cannot be used in a URL: rename the item")
        with self._lock:
            start = self._db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO items (id, position, payload) VALUES (?, ?, ?)",
                                 [(it.id, start + i, json.dumps(it.to_json(), ensure_ascii=False))
                                  for i, it in enumerate(items)])
            self._db.execute("COMMIT")

    def add_annotators(self, tokens: dict[str, str]) -> None:
        """Make ``tokens`` ({name: token}) the roster: others are deactivated, changed tokens log out."""
        by_hash: dict[str, str] = {}
        for name, token in tokens.items():
            if not name or len(token) < 8:
                raise UserError(f"annotator {name!r}: the token must have at least 8 characters")
            if (other := by_hash.setdefault(hash_token(token), name)) != name:
                raise UserError(f"annotators {other!r} and {name!r} have the same token: give each their own")
        old = dict(self._q("SELECT name, token_hash FROM annotators"))
        with self._lock:
            self._db.execute("BEGIN")
            for name in old.keys() - tokens.keys():  # revoked: keep finished labels, drop the rest
                self._db.execute("UPDATE annotators SET active=0, token_hash=? WHERE name=?", (f"revoked:{name}", name))
                self._db.execute("DELETE FROM sessions WHERE annotator=?", (name,))
                self._db.execute("DELETE FROM assignments WHERE annotator=? AND item_id NOT IN "
                                 "(SELECT item_id FROM submissions WHERE annotator=? AND status='done')", (name, name))
            for name, token in tokens.items():
                if old.get(name) not in (None, hash_token(token)):
                    self._db.execute("DELETE FROM sessions WHERE annotator=?", (name,))
            # free the hashes first so that two annotators may swap tokens between starts
            self._db.executemany("UPDATE annotators SET token_hash=? WHERE name=?",
                                 [(f"pending:{n}", n) for n in tokens if n in old])
            self._db.executemany("INSERT INTO annotators (name, token_hash, active) VALUES (?, ?, 1) "
                                 "ON CONFLICT(name) DO UPDATE SET token_hash=excluded.token_hash, active=1",
                                 [(n, hash_token(t)) for n, t in tokens.items()])
            self._db.execute("COMMIT")

    def assign(self, k: int) -> None:
        """Top every item up to k active annotators, the least loaded first (ties: name order)."""
        names = [r[0] for r in self._q("SELECT name FROM annotators WHERE active=1 ORDER BY name")]
        if k < 1 or k > len(names):
            raise UserError(f"k={k} annotators per item needs 1 <= k <= {len(names)} (the number of annotators: "
                            f"{', '.join(names) or 'none'})")
        load = dict.fromkeys(names, 0)
        for name, n in self._q("SELECT annotator, COUNT(*) FROM assignments GROUP BY annotator"):
            if name in load:
                load[name] = n
        have: dict[str, set[str]] = {r[0]: set() for r in self._q("SELECT id FROM items ORDER BY position")}
        for item, name in self._q("SELECT item_id, annotator FROM assignments"):
            have.setdefault(item, set()).add(name)
        todo = [(item, got) for item, got in have.items() if len(got) < k]
        rows = []
        for pos, (item, got) in enumerate(todo):
            rot = [a for a in names[pos % len(names):] + names[:pos % len(names)] if a not in got]
            chosen = sorted(rot, key=lambda a: load[a])[:k - len(got)]  # stable sort keeps the rotation for ties
            for a in chosen:
                load[a] += 1
                rows.append((item, a))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO assignments (item_id, annotator) VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    # -- sessions -----------------------------------------------------------------------------
    def login(self, token: str) -> tuple[str, str, str] | None:
        """(session id, csrf token, annotator) for a valid token, else None."""
        row = self._q("SELECT name FROM annotators WHERE token_hash=? AND active=1", (hash_token(token),))
        if not row:
            return None
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._q("INSERT INTO sessions (sid, annotator, csrf, created_at) VALUES (?, ?, ?, ?)",
                (sid, row[0][0], csrf, time.time()))
        return sid, csrf, row[0][0]

    def session(self, sid: str | None) -> tuple[str, str] | None:
        """(annotator, csrf) of a live session id: not expired, its annotator still in the roster."""
        if not sid:
            return None
        self._q("DELETE FROM sessions WHERE created_at < ?", (time.time() - self.session_ttl_s,))
        row = self._q("SELECT s.annotator, s.csrf FROM sessions s JOIN annotators n ON n.name=s.annotator "
                      "WHERE s.sid=? AND n.active=1", (sid,))
        return (row[0][0], row[0][1]) if row else None

    def logout(self, sid: str) -> None:
        self._q("DELETE FROM sessions WHERE sid=?", (sid,))

    # -- work ---------------------------------------------------------------------------------
    def item(self, item_id: str) -> AnnotationItem | None:
        row = self._q("SELECT payload FROM items WHERE id=?", (item_id,))
        return AnnotationItem.from_json(json.loads(row[0][0])) if row else None

    def is_assigned(self, item_id: str, annotator: str) -> bool:
        return bool(self._q("SELECT 1 FROM assignments WHERE item_id=? AND annotator=?", (item_id, annotator)))

    def next_item(self, annotator: str) -> str | None:
        """The first assigned item not yet submitted; skipped ones come back after all others."""
        row = self._q(
            "SELECT a.item_id FROM assignments a JOIN items i ON i.id=a.item_id "
            "LEFT JOIN submissions s ON s.item_id=a.item_id AND s.annotator=a.annotator "
            "WHERE a.annotator=? AND s.status IS NULL ORDER BY i.position LIMIT 1", (annotator,))
        if row:
            return row[0][0]
        row = self._q(
            "SELECT a.item_id FROM assignments a JOIN items i ON i.id=a.item_id "
            "JOIN submissions s ON s.item_id=a.item_id AND s.annotator=a.annotator "
            "WHERE a.annotator=? AND s.status='skipped' ORDER BY s.updated_at, i.position LIMIT 1", (annotator,))
        return row[0][0] if row else None

    def labels_of(self, item_id: str, annotator: str) -> dict[str, int]:
        return dict(self._q("SELECT dimension, value FROM labels WHERE item_id=? AND annotator=?", (item_id, annotator)))

    def submit(self, item_id: str, annotator: str, labels: dict[str, int]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO labels (item_id, annotator, dimension, value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id, annotator, dimension) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                [(item_id, annotator, d, v, now) for d, v in labels.items()])
            self._db.execute(
                "INSERT INTO submissions (item_id, annotator, status, updated_at) VALUES (?, ?, 'done', ?) "
                "ON CONFLICT(item_id, annotator) DO UPDATE SET status='done', updated_at=excluded.updated_at",
                (item_id, annotator, now))
            self._db.execute("COMMIT")

    def skip(self, item_id: str, annotator: str) -> None:
        self._q("INSERT INTO submissions (item_id, annotator, status, updated_at) VALUES (?, ?, 'skipped', ?) "
                "ON CONFLICT(item_id, annotator) DO UPDATE SET status='skipped', updated_at=excluded.updated_at "
                "WHERE submissions.status='skipped'", (item_id, annotator, time.time()))

    # -- reporting ----------------------------------------------------------------------------
    def progress(self) -> list[dict]:
        """Counts per annotator: the roster, and former annotators whose finished work is kept."""
        rows = self._q(
            "SELECT n.name, COUNT(a.item_id), SUM(s.status='done'), SUM(s.status='skipped') FROM annotators n "
            "LEFT JOIN assignments a ON a.annotator=n.name "
            "LEFT JOIN submissions s ON s.item_id=a.item_id AND s.annotator=a.annotator GROUP BY n.name "
            "HAVING MAX(n.active)=1 OR COUNT(a.item_id)>0 ORDER BY n.name")
        return [{"annotator": r[0], "assigned": r[1], "done": r[2] or 0, "skipped": r[3] or 0,
                 "remaining": r[1] - (r[2] or 0)} for r in rows]

    def export(self, schema: LabelSchema | None = None, annotator: str | None = None) -> list[dict]:
        """One record per (item, annotator) with a finished submission: scores + item meta (one annotator's only
        when ``annotator`` is given)."""
        rows = self._q(
            "SELECT l.item_id, l.annotator, l.dimension, l.value, i.payload FROM labels l "
            "JOIN items i ON i.id=l.item_id JOIN submissions s ON s.item_id=l.item_id AND s.annotator=l.annotator "
            "WHERE s.status='done' AND (? IS NULL OR l.annotator=?) ORDER BY i.position, l.annotator",
            (annotator, annotator))
        out: dict[tuple[str, str], dict] = {}
        for item_id, annotator, dim, value, payload in rows:
            rec = out.setdefault((item_id, annotator), {"item": item_id, "annotator": annotator, "scores": {},
                                                       "meta": json.loads(payload).get("meta", {})})
            rec["scores"][dim] = value
        if schema is not None:
            order = [d.name for d in schema.dimensions]
            for rec in out.values():
                rec["scores"] = {d: rec["scores"][d] for d in order if d in rec["scores"]}
        return list(out.values())

    def ratings_by_dimension(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for item_id, annotator, dim, value in self._q(
                "SELECT l.item_id, l.annotator, l.dimension, l.value FROM labels l JOIN submissions s "
                "ON s.item_id=l.item_id AND s.annotator=l.annotator WHERE s.status='done'"):
            out.setdefault(dim, {}).setdefault(item_id, {})[annotator] = value
        return out
