"""The SQLite file: a connection per thread (WAL, synchronous FULL), write transactions, read snapshots, meta."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class Database:
    """One SQLite file shared by the embedded backend's parts; writes are serialised by the backend's lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self.writes = 0  # write transactions committed by this process (it is the only writer: the data-dir lock)
        self._writes_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged memo survives power loss, not just a process crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def write(self) -> "Transaction":
        """``with db.write() as conn:`` one write transaction; callers serialise writes."""
        return Transaction(self)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (a WAL read transaction). No writes inside."""
        conn = self.connection()
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def committed(self) -> None:
        """Count a committed write (threads commit briefs beside the serialised memo writes)."""
        with self._writes_lock:
            self.writes += 1

    def get_meta(self, key: str) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """Bumped by every change to chunks; the index header records the generation it reflects."""
        return int(self.get_meta("generation") or 0)

    @staticmethod
    def bump(conn: sqlite3.Connection) -> None:
        """Count a change to chunks, inside the caller's transaction."""
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on a connection in autocommit mode."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.connection()

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type:
            self.conn.execute("ROLLBACK")
            return
        self.conn.execute("COMMIT")
        self.db.committed()
