"""The platform's private state in its home, and the folders project-users pass through.

A home (``PlatformConfig.home``) holds:

- the home itself: ``0711``, the platform account's. Project-users pass through it (to the
  storage, their environments, the runtime socket) but cannot list it or write in it.
- the private state, the platform account's alone (folders ``0700``, files ``0600``):
  ``state/`` (the SQLite database with its ``-wal``/``-shm``, the audit anchors),
  ``secrets/`` (JWT key, master key, audit key) and ``ca/`` (the CA's key). A home made
  before ``state/`` existed keeps its database at ``<home>/metadata.db``.
- the shared folders, made with their mode set explicitly (:func:`shared_dir`): the
  platform's commands run with umask 077, so whatever is left to the umask is private.

:func:`problems` is the start-up check: the platform refuses to run when any of its private
state could be read or changed by another account, and says how to fix it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
SHARED_DIR_MODE = 0o711  # others pass through, list nothing
STATE_DIR = "state"
DB_NAME = "metadata.db"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
CONFIG_FILE = "hopsworks_lab_config.py"


class UnsafeState(RuntimeError):
    """The platform's private state is open to other accounts (the message says how to fix
    it)."""


def restrict_umask() -> None:
    """Everything the process makes without an explicit mode is its account's alone."""
    os.umask(PRIVATE_UMASK)


def shared_dir(path: str | os.PathLike[str], mode: int = SHARED_DIR_MODE) -> None:
    """Make ``path`` and its missing parents with exactly ``mode`` (the umask would leave
    them private). Existing folders are left as they are."""
    missing: list[Path] = []
    p = Path(path)
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:  # made meanwhile by someone else: theirs to set
            continue
        os.chmod(folder, mode)


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def sqlite_file(db_url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    url = make_url(db_url)
    if not url.drivername.startswith("sqlite"):
        return None
    name = url.database
    if not name or name == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(name)


def default_db_path(home: Path) -> Path:
    """``<home>/state/metadata.db``, or ``<home>/metadata.db`` for a home made before."""
    legacy = home / DB_NAME
    return legacy if legacy.exists() else home / STATE_DIR / DB_NAME


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and ``0600`` unless it exists. SQLite gives its -wal/-shm the
    mode of the database file, so a database created this way keeps them private too."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def private_dirs(home: Path) -> list[Path]:
    return [home / STATE_DIR, home / "secrets", home / "ca"]


def private_files(home: Path, db_url: str) -> list[Path]:
    """The files that must be the platform's alone (whichever of them exist)."""
    files = [home / "ca" / "ca.key"]
    for folder in (home / "secrets", home / STATE_DIR):
        if folder.is_dir():
            files += sorted(folder.iterdir())
    db = sqlite_file(db_url)
    if db is not None:
        files += [db, *(db.with_name(db.name + side) for side in SQLITE_SIDE_FILES)]
    return list(dict.fromkeys(files))


def _who(mode: int) -> str:
    who = [w for bits, w in ((0o070, "its group"), (0o007, "other accounts")) if mode & bits]
    return " and ".join(who)


def problems(home: Path, db_url: str) -> tuple[list[str], list[str]]:
    """What of the private state other accounts could read or change, and the commands that
    fix it: ``(problems, fixes)``; both empty when all is well."""
    me = os.geteuid()
    found: list[str] = []
    chmod700: list[str] = []
    chmod600: list[str] = []
    fixes: list[str] = []
    chown: list[str] = []

    def check(path: Path, *, private: bool, folder: bool) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != me:
            found.append(f"{path} belongs to uid {st.st_uid}, not to the platform's account")
            chown.append(str(path))
        if private and mode & 0o077:
            found.append(f"{path} (mode {mode:04o}) is open to {_who(mode)}")
            (chmod700 if folder else chmod600).append(str(path))
        elif not private and mode & 0o022:
            found.append(f"{path} (mode {mode:04o}) can be written by {_who(mode & 0o022)}")
            fixes.append(f"chmod go-w {path}")

    check(home, private=False, folder=True)
    check(home / CONFIG_FILE, private=False, folder=False)  # code the platform runs
    for folder in private_dirs(home):
        check(folder, private=True, folder=True)
    for path in private_files(home, db_url):
        check(path, private=True, folder=False)
    if chown:
        fixes.insert(0, f"chown {me} {' '.join(chown)}")
    if chmod700:
        fixes.append(f"chmod 700 {' '.join(chmod700)}")
    if chmod600:
        fixes.append(f"chmod 600 {' '.join(chmod600)}")
    return found, fixes


def check(home: Path, db_url: str) -> None:
    """Raise :class:`UnsafeState` when other accounts could read or change the state."""
    found, fixes = problems(home, db_url)
    if not found:
        return
    raise UnsafeState(
        "refusing to run: other accounts can reach the platform's private state:\n  "
        + "\n  ".join(found)
        + "\nfix it with:\n  "
        + "\n  ".join(fixes)
        + "\n(whoever could read it may have copied password hashes, keys or sessions: "
        "consider rotating them)"
    )
