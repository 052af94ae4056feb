"""Forward-only SQL migrations with yoyo-migrations: the kit's tables first, then the service's own.

yoyo reads plain .sql files, records what it applied in the database, and takes a lock, so two replicas
starting at once do not migrate twice. It is synchronous (psycopg2); services call it from a thread.
"""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

KIT_MIGRATIONS = Path(__file__).parent / "migrations"


def _sources(service_dir: Path | None) -> list[Path]:
    dirs = [KIT_MIGRATIONS]
    if service_dir is not None and service_dir.exists():
        dirs.append(service_dir)
    return dirs


def pending(dsn: str, service_dir: Path | None) -> list[str]:
    backend = get_backend(dsn)
    try:
        names: list[str] = []
        for src in _sources(service_dir):
            names += [m.id for m in backend.to_apply(read_migrations(str(src)))]
        return names
    finally:
        backend.connection.close()


def apply(dsn: str, service_dir: Path | None) -> list[str]:
    backend = get_backend(dsn)
    applied: list[str] = []
    try:
        with backend.lock():
            for src in _sources(service_dir):
                todo = backend.to_apply(read_migrations(str(src)))
                backend.apply_migrations(todo)
                applied += [m.id for m in todo]
    finally:
        backend.connection.close()
    return applied


def known(service_dir: Path | None) -> list[str]:
    """Every migration id the code knows of; /readyz checks that each is applied."""
    return [m.id for src in _sources(service_dir) for m in read_migrations(str(src))]
