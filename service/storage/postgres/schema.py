"""The PostgreSQL schema: numbered SQL files in ``migrations/`` applied in order at start, under an advisory
lock so that replicas starting together apply each once; pgvector checked first."""
from __future__ import annotations

import re
from importlib import resources

import psycopg

from service.errors import DatabaseSetupError

# pg_advisory_lock key: any constant the service alone uses ("memo" in ASCII)
_LOCK_KEY = 0x6D656D6F
PGVECTOR_MIN = (0, 8)


def migrations() -> list[tuple[int, str]]:
    """``(version, sql)`` of every migration file, in order."""
    found = []
    for entry in resources.files("service.storage.postgres.migrations").iterdir():
        match = re.fullmatch(r"(\d+)_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def ensure_pgvector(conn: psycopg.Connection) -> None:
    """Create the ``vector`` extension if it is missing; refuse a server without it or with one older than 0.8."""
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc)
        raise DatabaseSetupError(
            f"PostgreSQL could not create the pgvector extension (CREATE EXTENSION vector: {reason}). This backend needs pgvector >= {'.'.join(map(str, PGVECTOR_MIN))} installed on the server "
            "(https://github.com/pgvector/pgvector), and a role allowed to create it."
        ) from None
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is None or _version(row[0]) < PGVECTOR_MIN:
        raise DatabaseSetupError(f"pgvector {row[0] if row else '?'} is installed; this backend needs pgvector >= "
                                 f"{'.'.join(map(str, PGVECTOR_MIN))} (ALTER EXTENSION vector UPDATE)")


def migrate(url: str, dimension: int) -> int:
    """Bring the database's schema up to date (the first replica to take the lock does the work, the others
    then find it done) and return its version. Vector columns get ``dimension``."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseSetupError(f"cannot reach the database: {str(exc).splitlines()[0]}") from None
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            ensure_pgvector(conn)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            steps = migrations()
            latest = steps[-1][0]
            if current > latest:
                raise DatabaseSetupError(f"the database's schema is version {current}; this service knows {latest} "
                                         "and older: upgrade the service")
            for version, sql in steps:
                if version > current:
                    with conn.transaction():
                        conn.execute(sql.replace("{dimension}", str(int(dimension))).encode())
                        conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (version,))
            _check_dimension(conn, dimension)
            return max(current, latest)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _check_dimension(conn: psycopg.Connection, dimension: int) -> None:
    row = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'").fetchone()
    if row and row[0] != f"vector({int(dimension)})":
        raise DatabaseSetupError(f"the database holds {row[0]} embeddings; this embedder makes vector({dimension}). "
                                 "Use another database, or the embedder the database was filled with")
