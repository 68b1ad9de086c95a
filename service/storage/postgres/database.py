"""The PostgreSQL connection pool: reads in autocommit (or inside the thread's snapshot), writes as one
transaction, snapshots as one REPEATABLE READ transaction on one connection, meta."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from service.errors import StorageUnavailable


def _configure(conn: psycopg.Connection) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


def connection_options(timeout_s: float) -> dict[str, Any]:
    """libpq options for every connection: give up connecting after ``timeout_s``, and notice a peer that
    vanished (TCP keepalives; a unix socket closes by itself) instead of waiting on it."""
    return {"connect_timeout": max(1, round(timeout_s)), "keepalives": 1, "keepalives_idle": 10,
            "keepalives_interval": 5, "keepalives_count": 3}


@contextmanager
def unavailable_as_503(retry_after: int) -> Iterator[None]:
    """A lost or unreachable server (``OperationalError``: connection failures, but also deadlocks and
    serialisation failures, which a retry also cures) or no free connection in time (``PoolTimeout``)
    leaves as ``StorageUnavailable`` (503 with ``Retry-After``), never a 500."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StorageUnavailable(f"the database is unavailable: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                                 retry_after=retry_after) from exc


class Database:
    """A ``ConnectionPool`` of autocommit connections that know pgvector's types."""

    def __init__(self, url: str, min_size: int, max_size: int, timeout_s: float) -> None:
        self.url = url
        self._local = threading.local()
        self._retry_after = max(1, round(timeout_s))
        # check: a connection handed out is tried first (an empty query), so after a server restart the dead
        # ones are replaced instead of failing a request each
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, timeout=timeout_s,
                                   kwargs={"autocommit": True, **connection_options(timeout_s)},
                                   configure=_configure, open=False, name="memo",
                                   check=ConnectionPool.check_connection)
        # open(wait=True): a database that is down fails the start instead of every request
        try:
            with unavailable_as_503(self._retry_after):
                self.pool.open(wait=True, timeout=timeout_s)
        except BaseException:
            self.pool.close()  # or its threads would go on trying to connect
            raise

    @contextmanager
    def read(self) -> Iterator[psycopg.Connection]:
        """A connection for reads: the thread's snapshot connection inside ``snapshot()``, else one from
        the pool in autocommit (each statement sees the latest commits)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with unavailable_as_503(self._retry_after), self.pool.connection() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[psycopg.Connection]:
        """``with db.write() as conn:`` one transaction, committed when the block ends (rolled back on an
        error); the caller's change is acknowledged only after that commit."""
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("no writes inside a snapshot")
        with unavailable_as_503(self._retry_after), self.pool.connection() as conn:
            with conn.transaction():
                yield conn

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """A pooled connection of the block's own, in autocommit: session state (an advisory lock) lasts as
        long as the block, or until the process dies and the server drops the connection."""
        with unavailable_as_503(self._retry_after), self.pool.connection() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads on this thread inside see one committed state: a REPEATABLE READ, READ ONLY transaction on
        one connection held for the block."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with unavailable_as_503(self._retry_after), self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None

    def one(self, sql: str, params: Any = None) -> tuple | None:
        with self.read() as conn:
            return conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = None, binary: bool = False) -> list[tuple]:
        """Every row; ``binary``: results in PostgreSQL's binary format (vectors arrive as packed floats
        instead of text to parse: ~2 ms of a question's sentence reads)."""
        with self.read() as conn:
            return conn.execute(sql, params, binary=binary).fetchall()

    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                         "excluded.value", (key, value))

    def close(self) -> None:
        self.pool.close()
