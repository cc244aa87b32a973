"""Engine and transactions. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE`` (writers
serialise up front instead of failing at their first write); PostgreSQL is used as is."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).with_name("migrations")
_UNDO = "hwl_undo"
_AFTER_COMMIT = "hwl_after_commit"
log = logging.getLogger(__name__)


def on_rollback(session: Session, undo: Callable[[], object]) -> None:
    """Run ``undo`` if ``session``'s transaction does not commit."""
    session.info.setdefault(_UNDO, []).append(undo)


def after_commit(session: Session, done: Callable[[], object]) -> None:
    """Run ``done`` once ``session``'s transaction has committed."""
    session.info.setdefault(_AFTER_COMMIT, []).append(done)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL + NORMAL: commits survive a crash of the process (not of the OS/power)
            # without an fsync per commit; the usual setting for WAL.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # only init/up migrate: load lazily

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any exception.

        Work outside the database (storage, OS users and ACLs) done inside the transaction
        registers its undo with ``on_rollback(session, fn)``; undos run, newest first, if
        the transaction fails, including at commit. ``after_commit`` work runs once it has
        committed."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
            for done in session.info.pop(_AFTER_COMMIT, []):
                try:
                    done()
                except Exception:  # committed already: report, do not fail the caller
                    log.exception("clean-up after a commit failed")
        except BaseException:
            for undo in reversed(session.info.pop(_UNDO, [])):
                try:
                    undo()
                except Exception:  # an undo must not hide the original error
                    log.exception("undo after a failed transaction failed")
            raise
        finally:
            session.info.pop(_UNDO, None)
            session.info.pop(_AFTER_COMMIT, None)
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
