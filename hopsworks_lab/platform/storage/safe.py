"""Link-safe local file operations for a platform that may run as root.

Project code writes inside datasets: it can plant symbolic links there, or swap a folder for
a link between a check of a path and the operation on it. So nothing here checks a path and
then acts on it. Every operation walks down from a trusted directory (the storage root,
opened normally) with directory file descriptors: each component is opened relative to its
parent with ``O_NOFOLLOW``, and the last one is acted on relative to its parent's
descriptor without following it (``*at`` system calls through ``dir_fd``).

What a symbolic link inside a dataset means here (it is the project's data, never a way
out of it):

- a link where a folder is needed on the way down: refused (:class:`LinkRefused`, 422);
- listed and stat'ed as itself (kind ``link``, size 0), counted as a file of 0 bytes;
- copied as a link (the same target text), moved and removed as itself;
- never opened: reading, appending or writing through it is refused (``LinkRefused``).

Other special files (FIFOs, sockets, devices) are listed with size 0, never opened (a FIFO
would block), and skipped by copies.

A regular file with more than one hard link is never opened nor copied (:class:`HardLinked`,
422): on a kernel without ``fs.protected_hardlinks`` a project-user can link a file it does
not own (the platform's configuration, ``/etc/shadow``) into a dataset, and the platform,
running as root, would read or append to it.

Trees of any depth: walks, copies and removals keep a stack of names, not of open folders or
Python frames, so project code nesting folders thousands deep neither exhausts descriptors
nor raises ``RecursionError``. One folder is open at a time per tree; going back up reopens
``..`` and checks that it is the folder it came from (device and inode), so a folder moved
meanwhile ends the operation (:class:`TreeChanged`) instead of continuing elsewhere. Copies
refuse trees deeper than :data:`MAX_COPY_DEPTH` (:class:`TooDeep`); removal and walks have no
limit.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from ..errors import Conflict, Unprocessable

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; it changes nothing for files
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
FILE_MODE = 0o666  # less the umask, as any new file (the dataset's default ACL applies)
DIR_MODE = 0o777
COPY_CHUNK = 1 << 20
MAX_COPY_DEPTH = 256  # folder levels below the copied folder


class LinkRefused(Unprocessable):
    """A symbolic link where the platform would have to follow it."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} is a symbolic link: the platform does not follow links inside datasets",
            code="is_a_link",
        )


class SpecialFile(Unprocessable):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is not a regular file or folder", code="special_file")


class HardLinked(Unprocessable):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} has other hard links: the platform does not open a file that may be "
            "another one outside the dataset",
            code="hard_link",
        )


class TooDeep(Unprocessable):
    def __init__(self, limit: int) -> None:
        super().__init__(f"folders nest deeper than {limit} levels", code="too_deep")


class TreeChanged(Conflict):
    def __init__(self) -> None:
        super().__init__("a folder was moved while the platform walked it", code="tree_changed")


@dataclass(frozen=True)
class Item:
    """A directory entry as it is, links not followed."""

    name: str
    kind: str  # "file" | "dir" | "link" | "other"
    size: int  # bytes of a regular file, else 0
    mtime: float


def kind_of(st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "other"


def item(name: str, st: os.stat_result) -> Item:
    kind = kind_of(st)
    return Item(name, kind, st.st_size if kind == "file" else 0, st.st_mtime)


def _lstat_at(fd: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=fd, follow_symlinks=False)


def _refusal(fd: int, name: str, error: OSError) -> Exception:
    """What an ``O_NOFOLLOW`` open of ``name`` that failed with ELOOP/ENOTDIR/ENXIO means."""
    try:
        st = _lstat_at(fd, name)
    except OSError:
        return error
    if stat.S_ISLNK(st.st_mode):
        return LinkRefused(name)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return SpecialFile(name)
    return error


def open_child_dir(fd: int, name: str) -> int:
    """The folder ``name`` in the folder ``fd``, never through a link."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refusal(fd, name, e) from e
        raise


def open_root(root: str) -> int:
    """The trusted top (configured by the administrator: it may itself be a link)."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextmanager
def opendir(root: str, parts: Sequence[str]) -> Iterator[int]:
    """A descriptor of ``root``/``parts``, every component opened without following."""
    fd = open_root(root)
    try:
        for part in parts:
            child = open_child_dir(fd, part)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextmanager
def parent(root: str, parts: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(descriptor of the folder holding ``parts``' last component, that component)."""
    if not parts:
        raise ValueError("the storage root itself has no parent here")
    with opendir(root, parts[:-1]) as fd:
        yield fd, parts[-1]


def lstat(root: str, parts: Sequence[str]) -> os.stat_result:
    if not parts:
        return os.stat(root)
    with parent(root, parts) as (fd, name):
        return _lstat_at(fd, name)


def open_file(
    root: str, parts: Sequence[str], flags: int = os.O_RDONLY, mode: int = FILE_MODE
) -> int:
    """A descriptor of the regular file ``parts`` (created as ``flags`` say); a link or a
    special file there is refused, a folder is IsADirectoryError."""
    with parent(root, parts) as (dfd, name):
        try:
            fd = os.open(
                name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dfd
            )
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise _refusal(dfd, name, e) from e
            raise
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", name)
            if not stat.S_ISREG(st.st_mode):
                raise SpecialFile(name)
            if st.st_nlink > 1:
                raise HardLinked(name)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd


def scandir(root: str, parts: Sequence[str]) -> list[Item]:
    """The folder's entries as they are (links not followed)."""
    with opendir(root, parts) as fd:
        return _items(fd)


def _items(fd: int) -> list[Item]:
    out = []
    with os.scandir(fd) as it:
        for e in it:
            try:
                out.append(item(e.name, e.stat(follow_symlinks=False)))
            except FileNotFoundError:  # removed meanwhile
                continue
    return out


def makedirs(root: str, parts: Sequence[str]) -> None:
    """``mkdir -p`` below ``root`` (an existing link on the way is refused)."""
    fd = open_root(root)
    try:
        for part in parts:
            with suppress(FileExistsError):
                os.mkdir(part, DIR_MODE, dir_fd=fd)
            child = open_child_dir(fd, part)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def mkdir(root: str, parts: Sequence[str]) -> None:
    with parent(root, parts) as (fd, name):
        os.mkdir(name, DIR_MODE, dir_fd=fd)


def remove(root: str, parts: Sequence[str]) -> None:
    """Remove a file, a link (not its target) or a folder tree (links inside it removed as
    links), at any depth."""
    with parent(root, parts) as (fd, name):
        _remove_at(fd, name)


def rmtree(path: str, *, ignore_errors: bool = False) -> None:
    """Remove the trusted path ``path`` (a platform folder, not one inside a dataset) and
    everything below it, as :func:`remove` does: links below it are removed, never followed,
    at any depth. A missing ``path`` is no error."""
    path = os.path.abspath(path)
    try:
        fd = open_root(os.path.dirname(path))
    except FileNotFoundError:
        return
    try:
        _remove_at(fd, os.path.basename(path), ignore_errors=ignore_errors)
    except FileNotFoundError:
        pass
    except (OSError, TreeChanged):
        if not ignore_errors:
            raise
    finally:
        os.close(fd)


class _Cursor:
    """One open folder at a time at any depth below a start folder (``fd``, borrowed): down
    opens a child by name without following links; up reopens ``..`` and checks it is the
    folder it came from, else :class:`TreeChanged`."""

    def __init__(self, fd: int) -> None:
        self.start = self.fd = fd
        self.ids: list[tuple[int, int]] = []  # (device, inode) of each folder above

    @property
    def depth(self) -> int:
        return len(self.ids)

    def down(self, name: str) -> None:
        child = open_child_dir(self.fd, name)
        st = os.fstat(self.fd)
        self.ids.append((st.st_dev, st.st_ino))
        self._set(child)

    def up(self) -> None:
        want = self.ids.pop()
        if not self.ids:
            self._set(self.start)
            return
        fd = os.open("..", DIR_FLAGS, dir_fd=self.fd)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != want:
            os.close(fd)
            raise TreeChanged()
        self._set(fd)

    def _set(self, fd: int) -> None:
        if self.fd != self.start:
            os.close(self.fd)
        self.fd = fd

    def close(self) -> None:
        self._set(self.start)
        self.ids.clear()


def _is_dir(fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(_lstat_at(fd, name).st_mode)
    except OSError:
        return False


def _remove_at(fd: int, name: str, *, ignore_errors: bool = False) -> None:
    """Remove ``name`` in the folder ``fd`` (a folder: with everything below it)."""
    try:
        os.unlink(name, dir_fd=fd)  # anything but a folder; a folder is EISDIR on Linux
        return
    except IsADirectoryError:
        pass
    except PermissionError:  # EPERM: what POSIX allows for a folder
        if not _is_dir(fd, name):
            raise
    cur = _Cursor(fd)
    first: OSError | None = None
    try:
        cur.down(name)
        names, pending = [name], [os.listdir(cur.fd)]
        while pending:
            if not pending[-1]:
                pending.pop()
                done = names.pop()
                cur.up()
                try:
                    os.rmdir(done, dir_fd=cur.fd)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    first = first or e
                continue
            child = pending[-1].pop()
            try:
                os.unlink(child, dir_fd=cur.fd)
                continue
            except FileNotFoundError:
                continue
            except OSError as e:
                if not (isinstance(e, IsADirectoryError) or _is_dir(cur.fd, child)):
                    first = first or e
                    continue
            try:
                cur.down(child)
            except (FileNotFoundError, NotADirectoryError, LinkRefused, SpecialFile):
                continue  # swapped meanwhile: its folder's rmdir then says what is left
            except OSError as e:
                first = first or e
                continue
            names.append(child)
            pending.append(os.listdir(cur.fd))
    finally:
        cur.close()
    if first is not None and not ignore_errors:
        raise first


def rename(root: str, src: Sequence[str], dst: Sequence[str]) -> None:
    """Move ``src`` (whatever it is: a link moves as a link) to ``dst``, atomically."""
    with parent(root, src) as (sfd, sname), parent(root, dst) as (dfd, dname):
        os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)


def copy(
    root: str,
    src: Sequence[str],
    dst: Sequence[str],
    *,
    skip_prefix: str = "",
    max_depth: int = MAX_COPY_DEPTH,
) -> None:
    """Copy ``src`` to the new name ``dst``: folders recursively, regular files by content,
    links as links; special files and entries named ``skip_prefix``… are left out. Folders
    nested deeper than ``max_depth`` are refused (:class:`TooDeep`: what was copied stays
    for the caller to remove)."""
    with parent(root, src) as (sfd, sname), parent(root, dst) as (dfd, dname):
        if not _copy_one(sfd, sname, dfd, dname):
            return
        a, b = _Cursor(sfd), _Cursor(dfd)
        try:
            a.down(sname)
            b.down(dname)
            pending = [_names(a.fd, skip_prefix)]
            while pending:
                if not pending[-1]:
                    pending.pop()
                    a.up()
                    b.up()
                    continue
                name = pending[-1].pop()
                if not _copy_one(a.fd, name, b.fd, name):
                    continue
                if a.depth >= max_depth:
                    raise TooDeep(max_depth)
                a.down(name)
                b.down(name)
                pending.append(_names(a.fd, skip_prefix))
        finally:
            a.close()
            b.close()


def _names(fd: int, skip: str) -> list[str]:
    """The entries to copy, in reverse order (popped from the end: copied in order)."""
    return sorted((n for n in os.listdir(fd) if not (skip and n.startswith(skip))), reverse=True)


def _copy_one(sfd: int, sname: str, dfd: int, dname: str) -> bool:
    """Copy one entry (a folder: made empty); true if it is a folder to descend into."""
    st = _lstat_at(sfd, sname)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(sname, dir_fd=sfd), dname, dir_fd=dfd)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dname, DIR_MODE, dir_fd=dfd)
        return True
    elif stat.S_ISREG(st.st_mode):
        _copy_file(sfd, sname, dfd, dname)
    return False


def _copy_file(sfd: int, sname: str, dfd: int, dname: str) -> None:
    try:
        src = os.open(sname, READ_FLAGS, dir_fd=sfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # swapped for a link since the lstat
            raise _refusal(sfd, sname, e) from e
        raise
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise SpecialFile(sname)
        if st.st_nlink > 1:
            raise HardLinked(sname)
        os.set_blocking(src, True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(dname, flags, FILE_MODE, dir_fd=dfd)
        try:
            while True:
                data = os.read(src, COPY_CHUNK)
                if not data:
                    break
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view) :]
        finally:
            os.close(out)
    finally:
        os.close(src)


def walk(root: str, parts: Sequence[str]) -> Iterator[tuple[tuple[str, ...], Item]]:
    """(path below ``root``, entry) of everything under ``parts`` (not the folder itself;
    a file yields itself), depth first, never descending through a link; a missing start
    yields nothing."""
    try:
        st = lstat(root, parts)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISDIR(st.st_mode):
        yield tuple(parts), item(parts[-1] if parts else root, st)
        return
    with opendir(root, parts) as fd:
        yield from _walk_fd(fd, tuple(parts))


def _walk_fd(fd: int, at: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Item]]:
    cur = _Cursor(fd)
    path = list(at)
    pending = [_items(fd)[::-1]]  # popped from the end: listed in order
    try:
        while pending:
            if not pending[-1]:
                pending.pop()
                if pending:
                    cur.up()
                    path.pop()
                continue
            it = pending[-1].pop()
            yield (*path, it.name), it
            if it.kind == "dir":
                try:
                    cur.down(it.name)
                except (FileNotFoundError, NotADirectoryError, LinkRefused, SpecialFile):
                    continue  # changed meanwhile: not followed
                path.append(it.name)
                pending.append(_items(cur.fd)[::-1])
    finally:
        cur.close()


def unlink_if(root: str, parts: Sequence[str], check: object) -> bool:
    """Remove the non-folder ``parts`` when ``check(stat)`` is true of it as it is now."""
    with parent(root, parts) as (fd, name):
        try:
            st = _lstat_at(fd, name)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode) or not check(st):  # type: ignore[operator]
            return False
        os.unlink(name, dir_fd=fd)
        return True
