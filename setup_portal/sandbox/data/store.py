"""Where an environment's rows live: one small SQLite file per environment under
`<SANDBOX_DIR>/dataverse/`, so records survive a sandbox restart until `/_sandbox/reset`.

The sandbox server is threaded. Reads take a connection from a pool (one connection is
used by one thread at a time; WAL mode lets readers run while a write commits). Writes go
through one lock, which also makes the environment's row version counter — the source of
`versionnumber`, etags and delta tokens — strictly increasing without gaps or races.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .schema import SQL_TYPES, TABLES, WRITABLE, Table

CHANGELOG_KEEP = 500


def _ddl() -> list[str]:
    statements = []
    for table in TABLES.values():
        if table.source:
            continue
        columns = []
        for column in table.columns:
            sql_type = SQL_TYPES[column.kind]
            key = " PRIMARY KEY" if column.name == table.primary_key else ""
            columns.append(f'"{column.name}" {sql_type}{key}')
            if column.polymorphic:
                columns.append(f'"{column.type_column}" TEXT')
        statements.append(f'CREATE TABLE "{table.entity_set}" ({", ".join(columns)})')
        # Why these indexes: delta queries scan by version, the owner rule filters by owner,
        # pollers ask for rows modified since a time, and children are filtered by parent.
        parents = [c.name for c in table.columns
                   if c.kind == "lookup" and c.navigation and not c.read_only and c.name != "_ownerid_value"]
        indexed = ["versionnumber", "_ownerid_value", "modifiedon", *parents]
        for name in indexed:
            statements.append(f'CREATE INDEX "ix_{table.entity_set}_{name}" ON "{table.entity_set}" ("{name}")')
    for table in TABLES.values():
        if table.source:
            names = [_q(c.name) for c in table.columns] + [_q(c.type_column) for c in table.columns if c.polymorphic]
            statements.append(f'CREATE VIEW "{table.entity_set}" AS SELECT {", ".join(names)} FROM "{table.source}"')
    statements += [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        # Deleted rows, for change tracking ($deletedEntity). Kept until reset.
        "CREATE TABLE tombstone (entity TEXT, id TEXT, versionnumber INTEGER, deletedon TEXT, "
        "PRIMARY KEY (entity, id))",
        "CREATE INDEX ix_tombstone_version ON tombstone (entity, versionnumber)",
        # What changed recently, for the overview page and the change hook (trimmed).
        "CREATE TABLE changelog (seq INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT, id TEXT, op TEXT, "
        "versionnumber INTEGER, at TEXT, by TEXT)",
    ]
    return statements


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DataStore:
    """One environment's tables. Every method is safe to call from any thread."""

    def __init__(self, path: Path, seed_rows_factory, spec: dict):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seed_rows_factory = seed_rows_factory
        self._seed_rows: dict[str, list[dict]] | None = None
        self.spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        self.write_lock = threading.Lock()
        # The write transaction the current thread holds (a $batch change set spans several writes).
        self._held = threading.local()
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self.dirty = False
        # Called after each commit with its changes [(entity set, id, op, version, by)], in commit order
        # (under the write lock): plug-in steps (webhooks) fire on committed changes only.
        self.listeners: list = []
        self._open_or_create()

    # -- connections --------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        held = getattr(self._held, "conn", None)
        if held is not None:  # inside this thread's transaction: read what it wrote
            yield held
            return
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time; rolls back on any error. Several writes may stand or
        fall together (a change set, CreateMultiple): inside an open transaction of this thread a
        write joins it. Versions handed out inside become `version` only on commit, so readers
        never see a version whose rows are not committed, and a rollback gives the numbers back."""
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._held.conn = conn
            self._held.changes = []
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._allocated = self.version
                raise
            finally:
                self._held.conn = None
            conn.execute("COMMIT")
            self.version = self._allocated
            self.dirty = True
            committed, self._held.changes = self._held.changes, []
            for listener in self.listeners if committed else ():
                listener(committed)

    writing = transaction

    def _open_or_create(self) -> None:
        fresh = not self.path.exists()
        if not fresh:
            try:
                with self.connection() as conn:
                    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError:
                meta = {}
            if meta.get("schema") != SCHEMA_VERSION or meta.get("spec") != self.spec_hash:
                self._drop_connections()
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                fresh = True
        if fresh:
            with self.connection() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN")
                for statement in _ddl():
                    conn.execute(statement)
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [("schema", SCHEMA_VERSION), ("spec", self.spec_hash), ("version", "0"),
                                  ("floor", "0")])
                conn.execute("COMMIT")
            self.reseed()
        with self.connection() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            # Any change since the seed leaves a changelog row (reseeding empties it).
            self.dirty = conn.execute("SELECT 1 FROM changelog LIMIT 1").fetchone() is not None
        self.version = self._allocated = int(meta["version"])
        self.floor = int(meta["floor"])

    def _drop_connections(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    # -- seed and reset -------------------------------------------------------------------
    def seed_rows(self) -> dict[str, list[dict]]:
        if self._seed_rows is None:
            self._seed_rows = self._seed_rows_factory()
        return self._seed_rows

    def reseed(self) -> None:
        """Back to the seed: every row again, as new versions; older delta tokens expire."""
        rows = self.seed_rows()
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
                for name in WRITABLE:
                    conn.execute(f'DELETE FROM "{name}"')
                conn.execute("DELETE FROM tombstone")
                conn.execute("DELETE FROM changelog")
                floor = version
                for name in WRITABLE:
                    batch = rows.get(name, [])
                    if not batch:
                        continue
                    columns = [*batch[0].keys(), "versionnumber"]
                    sql = (f'INSERT INTO "{name}" ({", ".join(_q(c) for c in columns)}) '
                           f'VALUES ({", ".join("?" * len(columns))})')
                    values = []
                    for row in batch:
                        version += 1
                        values.append([*row.values(), version])
                    conn.executemany(sql, values)
                conn.executemany("UPDATE meta SET value = ? WHERE key = ?",
                                 [(str(version), "version"), (str(floor), "floor")])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self.version, self.floor, self.dirty = version, floor, False
            self._allocated = version

    def reset(self) -> None:
        """Reseed only when something was written since the last seed: resets are frequent in tests."""
        if self.dirty:
            self.reseed()

    def expire_delta_tokens(self) -> int:
        """Tokens up to the current version stop working; the next token is issued after a new version."""
        with self.writing() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'floor'", (str(self.version),))
            self.floor = self.version
            self.next_version(conn)
        return self.floor

    # -- reading ----------------------------------------------------------------------------
    def select(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Rows as dicts: built once per row from plain tuples, which is much cheaper than
        sqlite3.Row's lookups by name when a page of rows is turned into JSON."""
        with self.connection() as conn:
            cursor = conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def tuples(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: list | tuple = ()) -> object:
        with self.connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def get(self, table: Table, key: str) -> dict | None:
        rows = self.select(f'SELECT * FROM "{table.entity_set}" WHERE "{table.primary_key}" = ?', (key,))
        return rows[0] if rows else None

    def names(self, entity_set: str, keys: set[str]) -> dict[str, str]:
        """Primary names of rows (for formatted lookup values), one query per target table."""
        table = TABLES[entity_set]
        if not keys:
            return {}
        marks = ", ".join("?" * len(keys))
        rows = self.tuples(f'SELECT "{table.primary_key}", "{table.primary_name}" FROM "{entity_set}" '
                           f'WHERE "{table.primary_key}" IN ({marks})', list(keys))
        return {r[0]: r[1] for r in rows}

    def deleted_since(self, entity_set: str, since: int, until: int) -> list[str]:
        rows = self.tuples("SELECT id FROM tombstone WHERE entity = ? AND versionnumber > ? AND versionnumber <= ? "
                           "ORDER BY versionnumber", (entity_set, since, until))
        return [r[0] for r in rows]

    def recent_changes(self, limit: int = 50) -> list[dict]:
        rows = self.select("SELECT entity, id, op, versionnumber, at, by FROM changelog ORDER BY seq DESC LIMIT ?",
                           (limit,))
        return rows

    # -- writing (callers hold `writing()`) ----------------------------------------------
    def next_version(self, conn: sqlite3.Connection) -> int:
        self._allocated += 1
        conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(self._allocated),))
        return self._allocated

    def insert(self, conn: sqlite3.Connection, table: Table, row: dict, by: str) -> None:
        columns = list(row)
        conn.execute(f'INSERT INTO "{table.entity_set}" ({", ".join(_q(c) for c in columns)}) '
                     f'VALUES ({", ".join("?" * len(columns))})', list(row.values()))
        conn.execute("DELETE FROM tombstone WHERE entity = ? AND id = ?", (table.entity_set, row[table.primary_key]))
        self._log(conn, table, row[table.primary_key], "create", row["versionnumber"], by)

    def update(self, conn: sqlite3.Connection, table: Table, key: str, changes: dict, by: str) -> None:
        assignments = ", ".join(f"{_q(c)} = ?" for c in changes)
        conn.execute(f'UPDATE "{table.entity_set}" SET {assignments} WHERE "{table.primary_key}" = ?',
                     [*changes.values(), key])
        self._log(conn, table, key, "update", changes["versionnumber"], by)

    def delete(self, conn: sqlite3.Connection, table: Table, key: str, by: str) -> int:
        version = self.next_version(conn)
        conn.execute(f'DELETE FROM "{table.entity_set}" WHERE "{table.primary_key}" = ?', (key,))
        conn.execute("INSERT OR REPLACE INTO tombstone (entity, id, versionnumber, deletedon) VALUES (?, ?, ?, ?)",
                     (table.entity_set, key, version, now_stamp()))
        self._log(conn, table, key, "delete", version, by)
        return version

    def _log(self, conn: sqlite3.Connection, table: Table, key: str, op: str, version: int, by: str) -> None:
        cursor = conn.execute("INSERT INTO changelog (entity, id, op, versionnumber, at, by) VALUES (?, ?, ?, ?, ?, ?)",
                              (table.entity_set, key, op, version, now_stamp(), by))
        pending = getattr(self._held, "changes", None)
        if pending is not None:
            pending.append((table.entity_set, key, op, version, by))
        if cursor.lastrowid % 100 == 0:
            conn.execute("DELETE FROM changelog WHERE seq <= ?", (cursor.lastrowid - CHANGELOG_KEEP,))


def _q(name: str) -> str:
    return f'"{name}"'


# Any change to the tables in schema.py makes a new file (an old one is dropped and reseeded).
SCHEMA_VERSION = hashlib.sha256("\n".join(_ddl()).encode()).hexdigest()[:16]
