# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Message files and Maildirs, read and changed safely (stdlib only).

The quarantine is written by the fetch user and re-injected by whoever runs the
xclient_inject module (often root): everything in it is hostile. So:

- only regular files with one link are read, opened with ``O_NOFOLLOW`` relative to
  descriptors of the Maildir's own ``new/`` and ``cur/`` (which must be real directories,
  not symbolic links): a symbolic link, a hard link, a fifo or a device planted there is
  refused, never read, never mailed;
- one run at a time per Maildir: ``MaildirLock`` (``flock`` on ``.xclient-inject.lock`` in
  the Maildir) is held while the files are listed, injected and removed, so two runs
  never inject the same message;
- a message file is replaced atomically (written into ``tmp/``, renamed over it) or removed
  through the same directory descriptor it was read from.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import time
from typing import List, Optional, Tuple

LOCK_NAME = ".xclient-inject.lock"
MAX_MESSAGE = 512 * 1024 * 1024  # read no more than this


class MaildirError(ValueError):
    """A path that is not what it must be; the message names it."""


class UnsafeFile(OSError):
    """A message file that is not a regular file with one link (refused, never read)."""


def _open_dir(path: str, dir_fd: Optional[int] = None, follow: bool = False) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    return os.open(path, flags, dir_fd=dir_fd)


def read_regular(name: str, dir_fd: Optional[int] = None,
                 limit: int = MAX_MESSAGE) -> bytes:
    """The content of a regular file with one link, at most ``limit`` + 1 octets.

    Raises UnsafeFile for a symbolic link (``O_NOFOLLOW``), a fifo, a device, a socket, a
    directory or a hard link; the file is opened non-blocking, so a fifo never hangs."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(errno.ELOOP, "a symbolic link: refused, not read") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(errno.EINVAL, "not a regular file: refused, not read")
        if info.st_nlink != 1:
            raise UnsafeFile(errno.EMLINK, f"a regular file with {info.st_nlink} links (a"
                             " hard link): refused, not read")
        chunks: List[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class MessageRef:
    """One message file: its directory descriptor (owned by the Maildir) and name."""

    def __init__(self, path: str, dir_fd: Optional[int], name: str,
                 tmp_fd: Optional[int] = None):
        self.path = path
        self.dir_fd = dir_fd
        self.name = name
        self.tmp_fd = tmp_fd  # where a replacement is written first (a Maildir's tmp/)

    def read(self, limit: int = MAX_MESSAGE) -> bytes:
        return read_regular(self.name, self.dir_fd, limit)

    def remove(self) -> None:
        os.unlink(self.name, dir_fd=self.dir_fd)

    def replace(self, content: bytes) -> None:
        """Replace the file's content atomically (same name, mode 0600)."""
        tmp_fd = self.tmp_fd if self.tmp_fd is not None else self.dir_fd
        tmp_name = (f"{self.name}.xclient-inject-tmp" if self.tmp_fd is None
                    else unique_name())
        _write_new(tmp_name, tmp_fd, content)
        try:
            os.rename(tmp_name, self.name, src_dir_fd=tmp_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            _unlink_quietly(tmp_name, tmp_fd)
            raise


class Messages:
    """The message files of a path - one file, or a Maildir's new/ then cur/ (sorted) -
    under the Maildir's lock. A context manager; ``refs`` is filled on entry."""

    def __init__(self, path: str, lock_timeout: float = 600.0):
        self.path = path
        self.lock_timeout = lock_timeout
        self.refs: List[MessageRef] = []
        self.refused: List[Tuple[str, str]] = []  # (path, why) of entries not read
        self._fds: List[int] = []

    def __enter__(self) -> "Messages":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())

    def _open(self) -> None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            raise MaildirError(f"path: {self.path} is neither a message file nor a"
                               " Maildir") from None
        if stat.S_ISLNK(info.st_mode):
            # The path the user gave may be a link to a Maildir; never one to a file.
            if not os.path.isdir(self.path):
                raise MaildirError(f"path: {self.path} is a symbolic link to a file:"
                                   " refused (give the file itself)")
        elif stat.S_ISREG(info.st_mode):
            self._open_file()
            return
        elif not stat.S_ISDIR(info.st_mode):
            raise MaildirError(f"path: {self.path} is neither a message file nor a Maildir")
        root = _open_dir(self.path, follow=True)
        self._fds.append(root)
        subs = {}
        for sub in ("new", "cur", "tmp"):
            try:
                subs[sub] = _open_dir(sub, root)
                self._fds.append(subs[sub])
            except FileNotFoundError:
                if sub != "tmp":
                    raise MaildirError(f"path: {self.path} is a directory but not a Maildir"
                                       " (no new/ and cur/)") from None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise MaildirError(f"path: {self.path}/{sub} is not a directory (a"
                                       " symbolic link or a file): refused") from None
                raise
        self._lock(root)
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(subs[sub])):
                if name.startswith("."):
                    continue
                path = os.path.join(self.path, sub, name)
                try:
                    entry = os.stat(name, dir_fd=subs[sub], follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(entry.st_mode):
                    continue
                if not stat.S_ISREG(entry.st_mode):
                    self.refused.append((path, "symbolic link" if stat.S_ISLNK(entry.st_mode)
                                         else "not a regular file"))
                    continue
                self.refs.append(MessageRef(path, subs[sub], name, subs.get("tmp")))

    def _open_file(self) -> None:
        parent, name = os.path.split(os.path.abspath(self.path))
        dir_fd = _open_dir(parent, follow=True)
        self._fds.append(dir_fd)
        # One run at a time for a single file, too: a lock next to it would need a second
        # file; the file's own lock is taken after opening it without following links.
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise MaildirError(f"path: {self.path} is a symbolic link: refused") from None
            raise
        self._fds.append(fd)
        self._flock(fd)
        try:
            now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return  # injected and removed by the run that held the lock
        if (now.st_ino, now.st_dev) == (os.fstat(fd).st_ino, os.fstat(fd).st_dev):
            self.refs.append(MessageRef(self.path, dir_fd, name))

    def _lock(self, root: int) -> None:
        try:
            fd = os.open(LOCK_NAME, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC, 0o644, dir_fd=root)  # empty; others may lock it too
        except OSError as exc:
            raise MaildirError(f"path: cannot open the lock {self.path}/{LOCK_NAME}:"
                               f" {exc.strerror or exc}") from None
        self._fds.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MaildirError(f"path: {self.path}/{LOCK_NAME} is not a regular file")
        self._flock(fd)

    def _flock(self, fd: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MaildirError(f"path: another run has held the lock on {self.path}"
                                       f" for {self.lock_timeout:g} s") from None
                time.sleep(0.05)


def unique_name() -> str:
    now = time.time()
    return (f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}"
            f"R{os.urandom(4).hex()}.{socket.gethostname().replace('/', '_')}")


def _write_new(name: str, dir_fd: Optional[int], content: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink_quietly(name, dir_fd)
        raise


def _unlink_quietly(name: str, dir_fd: Optional[int]) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def maildir_deliver(directory: str, content: bytes) -> str:
    """Write one message into a Maildir (tmp/ then new/), creating it if needed; the
    Maildir's subdirectories must be real directories (no symbolic links)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    root = _open_dir(directory, follow=True)
    fds = [root]
    try:
        subs = {}
        for sub in ("tmp", "new", "cur"):
            try:
                os.mkdir(sub, 0o700, dir_fd=root)
            except FileExistsError:
                pass
            try:
                subs[sub] = _open_dir(sub, root)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise OSError(exc.errno, f"{directory}/{sub} is not a directory (a"
                                  " symbolic link or a file)") from None
                raise
            fds.append(subs[sub])
        unique = unique_name()
        _write_new(unique, subs["tmp"], content)
        try:
            os.rename(unique, unique, src_dir_fd=subs["tmp"], dst_dir_fd=subs["new"])
        except BaseException:
            _unlink_quietly(unique, subs["tmp"])
            raise
        return os.path.join(directory, "new", unique)
    finally:
        for fd in fds:
            os.close(fd)
