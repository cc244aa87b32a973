"""The platform's Unix socket, both ends: where code running in a project (a lab server, its
kernels, a job, an experiment's workers) reaches the platform, and where the platform learns
which Unix account is asking (``SO_PEERCRED``). A project-user key is accepted only there,
from its own project-user's account: copied out of its runtime it opens nothing.

Standard library only: kernels and workers import this."""

from __future__ import annotations

import os
import socket
import stat
import struct

# sun_path holds 108 bytes: a longer path is reached through a descriptor of its folder
# (/proc/self/fd/N/<name>), as systemd does.
_SUN_PATH_MAX = 100
_dir_fds: dict[str, int] = {}


def address(path: str) -> str:
    """``path`` as an ``AF_UNIX`` address short enough for ``bind``/``connect``."""
    if len(os.fsencode(path)) < _SUN_PATH_MAX:
        return path
    folder, name = os.path.split(os.path.abspath(path))
    fd = _dir_fds.get(folder)
    if fd is None:
        fd = _dir_fds[folder] = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{name}"


def connect(path: str, timeout: float | None = None) -> socket.socket:
    """A connected stream socket to the platform's Unix socket at ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address(path))
    except BaseException:
        sock.close()
        raise
    return sock


def bind(path: str, backlog: int = 128) -> socket.socket:
    """A listening, non-blocking socket at ``path``, which every account may connect to:
    the peer check decides what a connection may do, not the file's mode. Its folder is
    the platform's own (made 0755; refused if another account could write it,
    since whoever writes it could put their own socket there and collect keys)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o755, exist_ok=True)
    st = os.lstat(folder)
    if (
        not stat.S_ISDIR(st.st_mode)
        or st.st_uid != os.geteuid()
        or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise OSError(
            f"{folder} must be a folder of the platform's account that no other account can "
            "write (chmod go-w, or remove it: it is made at start)"
        )
    # every account passes through to the socket (the platform may run with umask 077)
    os.chmod(folder, 0o755)
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)  # left by a platform that did not stop cleanly
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(address(path))
        os.chmod(path, 0o666)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a Unix socket connection (as it was when
    it connected; the kernel vouches for it), None for any other socket."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid
