"""Storage backends behind one seam (``base.py``), chosen by configuration: ``open_storage``.

``MEMO_DATABASE_URL`` unset: the embedded backend (SQLite + FAISS) in ``MEMO_DATA_DIR``;
``postgresql://...``: the PostgreSQL + pgvector backend (``storage/postgres``), shared by any number of processes. A backend
registers a factory under its URL scheme; the engine only ever sees the ``Storage`` protocol.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from service.storage.base import Storage, VectorSpace

Opener = Callable[[Mapping[str, Any], VectorSpace], Storage]
Preflight = Callable[[Mapping[str, Any]], None]

_BACKENDS: dict[str, tuple[Opener, Preflight]] = {}

EMBEDDED = "embedded"


def register_backend(scheme: str, opener: Opener, preflight: Preflight = lambda config: None) -> None:
    """``opener(config, space)`` serves configurations whose ``DATABASE_URL`` has this scheme (``embedded``:
    no URL). ``preflight(config)`` refuses early what would fail at open (a data dir in use)."""
    _BACKENDS[scheme] = (opener, preflight)


def _backend(config: Mapping[str, Any]) -> tuple[Opener, Preflight]:
    url = config.get("DATABASE_URL")
    scheme = urlsplit(str(url)).scheme.split("+")[0] if url else EMBEDDED
    if scheme not in _BACKENDS:
        known = ", ".join(sorted(s for s in _BACKENDS if s != EMBEDDED)) or "none yet"
        raise ValueError(f"MEMO_DATABASE_URL: no storage backend for {scheme!r} URLs (known: {known})")
    return _BACKENDS[scheme]


def open_storage(config: Mapping[str, Any], space: VectorSpace) -> Storage:
    """The configured backend, opened for vectors of ``space``."""
    return _backend(config)[0](config, space)


def preflight(config: Mapping[str, Any]) -> None:
    """Refuse now what opening the configured backend would refuse later (before models load)."""
    _backend(config)[1](config)


def _open_embedded(config: Mapping[str, Any], space: VectorSpace) -> Storage:
    from service.storage.embedded import EmbeddedSettings, EmbeddedStorage

    return EmbeddedStorage(EmbeddedSettings.from_config(config), space)


def _check_embedded(config: Mapping[str, Any]) -> None:
    from service.storage.embedded import check_data_dir

    check_data_dir(config)


def _open_postgres(config: Mapping[str, Any], space: VectorSpace) -> Storage:
    from service.storage.postgres import open_postgres

    return open_postgres(config, space)


register_backend(EMBEDDED, _open_embedded, _check_embedded)
# any libpq URL: postgresql://user:pass@host/db, postgresql://postgres:@/db?host=/socket/dir
register_backend("postgresql", _open_postgres)
register_backend("postgres", _open_postgres)
