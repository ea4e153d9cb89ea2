# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe edits of main.cf and master.cf: one transaction per module run.

1. Take an exclusive lock on the config directory (two runs on one host lose no update).
   The lock is flock(2) on the directory itself, so taking it creates nothing.
2. Copy main.cf and master.cf into a private work directory *inside* the config directory
   (same file system, so the final rename is atomic) and let ``postconf -c WORK`` edit the
   copies. The real files are not touched until step 5. In check mode the work directory
   is a temporary directory elsewhere: check mode writes nothing to the config directory
   and works for a user who may only read it.
3. Compare: unchanged means nothing more happens.
4. Pre-flight (``_postfix_preflight``): what ``postfix check`` lets through and Postfix
   dies of. A problem fails the run here, before anything is written. Check mode stops
   after this step with the diff.
5. Move the changed copies over the real files (temp file -> atomic rename: a ``kill -9``
   leaves either the old or the new file, never half of one), run ``postfix check`` (the
   binary the module found) for the config directory, and if Postfix objects put both
   files back byte for byte.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    RESTART_PARAMETERS,
    Postconf,
)

FILES = ("main.cf", "master.cf")
WORK_PREFIX = ".mailops-xclient-work-"
# What an edit returns (what it found and made), handed back by edit_config.
T = TypeVar("T")


class ConfigEditError(Exception):
    """The edit could not be made; the files are as they were."""


@dataclass
class EditResult:
    changed: bool
    diff: List[Dict[str, str]] = field(default_factory=list)
    backups: Dict[str, str] = field(default_factory=dict)


@contextmanager
def config_lock(config_dir: str) -> Iterator[None]:
    """An exclusive lock on the config directory, held for one whole edit.

    flock(2) on the directory's own descriptor: nothing is created, and a user who may
    only read the directory can take it too (check mode)."""
    fd = os.open(config_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_files(directory: str) -> Dict[str, Optional[bytes]]:
    out: Dict[str, Optional[bytes]] = {}
    for name in FILES:
        try:
            with open(os.path.join(directory, name), "rb") as fh:
                out[name] = fh.read()
        except FileNotFoundError:
            out[name] = None
    return out


def make_diff(config_dir: str, before: Dict[str, Optional[bytes]],
              after: Dict[str, Optional[bytes]]) -> List[Dict[str, str]]:
    """Ansible's diff format, one entry per changed file."""
    diff = []
    for name in FILES:
        if before[name] == after[name]:
            continue
        path = os.path.join(config_dir, name)
        diff.append({
            "before_header": path, "after_header": path,
            "before": (before[name] or b"").decode("utf-8", "replace"),
            "after": (after[name] or b"").decode("utf-8", "replace"),
        })
    return diff


def _remove_stale_work_dirs(config_dir: str) -> None:
    # Called under the lock: any work dir left now belongs to a run that was killed.
    for entry in os.listdir(config_dir):
        if entry.startswith(WORK_PREFIX):
            shutil.rmtree(os.path.join(config_dir, entry), ignore_errors=True)


def target_path(config_dir: str, name: str) -> str:
    """Where main.cf / master.cf really is: a symlink is edited through, never replaced by
    a regular file (a config kept elsewhere, say under version control, stays linked)."""
    return os.path.realpath(os.path.join(config_dir, name))


def _write_atomic(atomic_move: Callable[[str, str], None], directory: str, name: str,
                  data: bytes) -> None:
    dest = target_path(directory, name)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=WORK_PREFIX)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    atomic_move(tmp, dest)


def _restore(config_dir: str, before: Dict[str, Optional[bytes]], names: List[str],
             atomic_move: Callable[[str, str], None]) -> None:
    for name in names:
        original = before[name]
        if original is None:
            try:
                os.unlink(target_path(config_dir, name))
            except FileNotFoundError:
                pass
        else:
            _write_atomic(atomic_move, config_dir, name, original)


def _replace_checked(real: Postconf, work: str, before: Dict[str, Optional[bytes]],
                     names: List[str], atomic_move: Callable[[str, str], None]) -> None:
    """Move the changed copies over the real files and run ``postfix check``; on any
    failure (a kill included) put the files back byte for byte."""
    config_dir = real.config_dir
    try:
        for name in names:
            atomic_move(os.path.join(work, name), target_path(config_dir, name))
        ok, said = real.check()
        if not ok:
            raise ConfigEditError(f"postfix check rejected the change, so"
                                  f" main.cf and master.cf were restored: {said}")
    except BaseException:
        _restore(config_dir, before, names, atomic_move)
        raise


def edit_config(real: Postconf, edit: Callable[[Postconf], T], *,
                check_mode: bool, atomic_move: Callable[[str, str], None],
                backup: Optional[Callable[[str], str]] = None,
                preflight: Optional[Callable[[Postconf, Postconf], None]] = None,
                before_write: Optional[Callable[[Postconf], object]] = None
                ) -> Tuple[EditResult, T]:
    """Run ``edit`` on a copy of the config; apply it safely unless in check mode.

    ``edit`` gets a Postconf bound to the copy (same binaries as ``real``) and returns what
    it found and made, which comes back with the EditResult; it may raise to abort
    (nothing changes). ``preflight(live, work)`` runs on a changed copy before
    anything is written and raises to refuse the edit. ``before_write(live)`` runs just
    before the real files are replaced (not in check mode).
    """
    config_dir = real.config_dir
    if not os.path.isdir(config_dir):
        raise ConfigEditError(f"config_dir: {config_dir} is not a directory")
    with config_lock(config_dir):
        if not check_mode:
            _remove_stale_work_dirs(config_dir)
        before = read_files(config_dir)
        if before["main.cf"] is None:
            raise ConfigEditError(f"config_dir: {config_dir} has no main.cf")
        work = tempfile.mkdtemp(dir=None if check_mode else config_dir, prefix=WORK_PREFIX)
        try:
            for name in FILES:
                if before[name] is not None:
                    shutil.copy2(os.path.join(config_dir, name), os.path.join(work, name))
            copy = Postconf(real.run, work, postconf=real.postconf_bin,
                            postfix=real.postfix_bin)
            made = edit(copy)
            after = read_files(work)
            result = EditResult(changed=after != before, diff=make_diff(config_dir, before,
                                                                        after))
            if not result.changed:
                return result, made
            if preflight is not None:
                preflight(real, copy)
            if check_mode:
                return result, made
            changed_files = [n for n in FILES if before[n] != after[n]]
            if before_write is not None:
                before_write(real)
            if backup is not None:
                for name in changed_files:
                    if before[name] is not None:
                        result.backups[name] = backup(target_path(config_dir, name))
            _replace_checked(real, work, before, changed_files, atomic_move)
            return result, made
        finally:
            shutil.rmtree(work, ignore_errors=True)


def needs_restart(names: List[str]) -> bool:
    """Whether changing these parameters needs a stop/start rather than a reload."""
    return any(n in RESTART_PARAMETERS for n in names)
