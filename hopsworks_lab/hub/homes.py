"""Private homes of lab servers: ``<runtime root>/<principal>``, made fresh by the spawner
(as root) for every start and removed when the server stops.

The runtime root is a directory only root (the hub's account) can write, on a path no one
else can change (checked at every start, like OpenSSH's ``secure_path``): no other account
can plant, pre-create or swap a home. A home is built while it still belongs to root (0700):
its folders are made with ``mkdir`` and its files with ``O_CREAT|O_EXCL|O_NOFOLLOW``, all
relative to directory descriptors, and every ``chown`` is an ``fchown`` of an open
descriptor; the home itself is handed to the project-user last. Nothing here follows a link
or reuses a file someone else made. What is written is computed by :func:`home_files` (pure).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping

from ..platform.storage import safe

CERT_DIR = ".hopsworks/certs"  # relative to the home: cert.pem, key.pem, key.password, ca.pem
ROOT_MODE = 0o711  # project-users pass through to their own home, list nothing
HOME_MODE = 0o700
FILE_MODE = 0o600
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class HomeError(RuntimeError):
    """The runtime root or a home is not safe to use (the message says why and what to do)."""


def home_files(
    home: str, certificate: Mapping[str, str], spark_files: Mapping[str, str]
) -> dict[str, bytes]:
    """What a server's home holds: relative path -> content. ``spark_files`` are absolute
    paths under ``home`` (``sparkmagic.server_spark``'s ``files``)."""
    files = {
        f"{CERT_DIR}/cert.pem": certificate.get("certificate", ""),
        f"{CERT_DIR}/key.pem": certificate.get("private_key", ""),
        f"{CERT_DIR}/key.password": certificate.get("password", ""),
        f"{CERT_DIR}/ca.pem": certificate.get("ca", ""),
    }
    for path, text in spark_files.items():
        rel = os.path.relpath(path, home)
        files[rel] = text
    for rel in files:
        _parts(rel)  # each a plain relative path inside the home
    return {rel: text.encode("utf-8") for rel, text in files.items()}


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise HomeError(f"{rel!r} is not a path inside the home")
    return parts


def _name(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        raise HomeError(f"{name!r} cannot name a home")
    return name


def ensure_root(path: str, passable: bool = True) -> str:
    """Create the runtime root if missing (0711), then check it and every directory above
    it: real directories owned by root (or by this process's account), writable by nobody
    else (a sticky ancestor such as /tmp is fine above it), and, with ``passable`` (servers
    run as project-users), passable by others. Returns its real path."""
    if not os.path.isabs(path):
        raise HomeError(f"ProjectSpawner.runtime_root must be an absolute path, not {path!r}")
    try:
        missing = []
        at = os.path.normpath(path)
        while not os.path.lexists(at):
            missing.append(at)
            at = os.path.dirname(at)
        for folder in reversed(missing):  # parents 0755, the root 0711, whatever the umask
            os.mkdir(folder, 0o700)
            os.chmod(folder, ROOT_MODE if folder == missing[0] else 0o755)
    except OSError as e:
        raise HomeError(
            f"cannot create the lab servers' runtime root {path}: {e.strerror}; set "
            "ProjectSpawner.runtime_root to a directory this account owns"
        ) from e
    real = os.path.realpath(path)
    me = os.geteuid()
    trusted = {0, me}
    current = real
    while True:
        st = os.lstat(current)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISDIR(st.st_mode):
            raise HomeError(f"{current} is not a directory")
        if st.st_uid not in trusted:
            raise HomeError(
                f"{current} belongs to uid {st.st_uid}: the lab servers' runtime root and the "
                f"directories above it must belong to root (make it with mkdir -m 0711 as root)"
            )
        writable = mode & 0o022
        if current == real:
            if writable:
                raise HomeError(
                    f"{current} (mode {mode:04o}) is writable by others: chmod 0711 {current}"
                )
            if st.st_uid != me:
                raise HomeError(f"{current} belongs to uid {st.st_uid}, not to the hub")
            if passable and not mode & 0o001:  # servers run as project-users
                raise HomeError(
                    f"{current} (mode {mode:04o}): project-users cannot reach their homes in "
                    f"it: chmod 0711 {current}"
                )
        elif writable and not mode & stat.S_ISVTX:
            raise HomeError(
                f"{current} (mode {mode:04o}) is writable by others: someone else could "
                f"replace the runtime root {real} under it"
            )
        elif passable and not mode & 0o001:
            raise HomeError(
                f"{current} (mode {mode:04o}): project-users cannot reach their homes under "
                f"it: chmod o+x {current}"
            )
        if current == "/":
            return real
        current = os.path.dirname(current)


def _clear(root: str, root_fd: int, name: str) -> None:
    """Remove whatever is at ``name`` (a stale home of a server that died with the hub):
    renamed aside first, so nothing can reach it by its old name, then removed without
    following links."""
    try:
        st = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=root_fd)
        return
    aside = f".gone-{name}-{secrets.token_hex(4)}"
    os.rename(name, aside, src_dir_fd=root_fd, dst_dir_fd=root_fd)
    # the root is a trusted path (ensure_root): safe.rmtree walks below it by descriptors,
    # never follows a link and takes any depth (shutil.rmtree recurses: RecursionError)
    path = os.path.join(root, aside)
    safe.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        raise HomeError(f"could not remove {path}")


def _opendir(name: str, dir_fd: int) -> int:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise HomeError(f"{name!r} in a new home is not the spawner's own private folder")
    return fd


def make_home(
    root: str, name: str, files: Mapping[str, bytes], owner: tuple[int, int] | None
) -> str:
    """A fresh home ``root/name`` holding ``files`` (0600 files in 0700 folders), handed to
    ``owner`` (uid, gid) once complete; an existing one is removed first. ``root`` must be
    checked by :func:`ensure_root`. Returns the home's path."""
    _name(name)
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        _clear(root, root_fd, name)
        os.mkdir(name, HOME_MODE, dir_fd=root_fd)  # fails if anyone made it meanwhile
        home_fd = _opendir(name, root_fd)
        try:
            _fill(home_fd, files, owner)
            os.fchmod(home_fd, HOME_MODE)
            if owner is not None:
                os.fchown(home_fd, *owner)  # last: until now only root could enter
        finally:
            os.close(home_fd)
    finally:
        os.close(root_fd)
    return os.path.join(root, name)


def _fill(home_fd: int, files: Mapping[str, bytes], owner: tuple[int, int] | None) -> None:
    opened: dict[tuple[str, ...], int] = {(): home_fd}
    try:
        for rel, data in sorted(files.items()):
            *folders, leaf = _parts(rel)
            at = home_fd
            for i, part in enumerate(folders):
                key = tuple(folders[: i + 1])
                if key not in opened:
                    os.mkdir(part, HOME_MODE, dir_fd=at)  # each folder once: a fresh home
                    opened[key] = _opendir(part, at)
                    os.fchmod(opened[key], HOME_MODE)
                    if owner is not None:
                        os.fchown(opened[key], *owner)
                at = opened[key]
            fd = os.open(leaf, _NEW_FILE, FILE_MODE, dir_fd=at)
            try:
                os.fchmod(fd, FILE_MODE)
                if owner is not None:
                    os.fchown(fd, *owner)
                _write_all(fd, data)
            finally:
                os.close(fd)
    finally:
        for key, fd in opened.items():
            if key:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def remove_home(root: str, name: str) -> None:
    """Remove ``root/name`` (the server stopped: its key and password go with it)."""
    _name(name)
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return
    try:
        _clear(root, root_fd, name)
    finally:
        os.close(root_fd)
