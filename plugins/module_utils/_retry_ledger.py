# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How often and since when a message has been deferred: the bound on retries (stdlib only).

A message the injector defers (exit 75) stays upstream and comes back at the next poll, as
the same octets. The ledger keeps, per message (SHA-256 of the message and its envelope
recipients), one small file in ``STATE_DIR/retries``: when it was first deferred and how
many attempts Postfix itself answered. Once ``max_attempts`` or ``max_age`` is reached, the
next deferral gives up (the injector then quarantines the message with the reason), as
Postfix's own queue gives up after ``maximal_queue_lifetime``.

Attempts count only deferrals that say something about this message (a 4xx or a refused
identity, no trusted Received: header); no connection, an EHLO refusal or XCLIENT not
offered are this host's trouble and count only towards the age. Records are removed when
a message is done and pruned when nothing has touched them for twice the age bound.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Iterable, Optional

DEFAULT_MAX_ATTEMPTS = 30
DEFAULT_MAX_AGE = 5 * 86400  # Postfix's maximal_queue_lifetime
_PRUNE_AFTER = 30 * 86400  # without an age bound


@dataclass
class RetryPolicy:
    """Where the ledger lives and the bounds (0: no bound of that kind)."""

    state_dir: Optional[str]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_age: int = DEFAULT_MAX_AGE


def message_key(message: bytes, recipients: Iterable[str]) -> str:
    digest = hashlib.sha256(message)
    for rcpt in recipients:
        digest.update(b"\0" + rcpt.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class RetryLedger:
    """The records of one state directory; every error is an OSError for the caller."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy
        self.dir = os.path.join(policy.state_dir, "retries") if policy.state_dir else None

    def _path(self, key: str) -> str:
        if self.dir is None:
            raise AssertionError("no state directory")
        return os.path.join(self.dir, key)

    def _read(self, key: str) -> Optional[dict]:
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as fh:
            try:
                data = json.loads(fh.read(4096))
                return {"first": float(data["first"]), "attempts": int(data["attempts"])}
            except (ValueError, KeyError, TypeError):
                return None  # a damaged record starts again

    def defer(self, key: str, counts: bool, now: Optional[float] = None) -> Optional[str]:
        """Record one deferral; the reason to give up now, or None to retry later."""
        if self.dir is None:
            return None
        now = time.time() if now is None else now
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        record = self._read(key) or {"first": now, "attempts": 0}
        if counts:
            record["attempts"] += 1
        age = max(0.0, now - record["first"])
        limit = self.policy
        if limit.max_attempts and record["attempts"] >= limit.max_attempts:
            return (f"gave up after {record['attempts']} deferred attempts (max_attempts"
                    f" {limit.max_attempts})")
        if limit.max_age and age >= limit.max_age:
            return (f"gave up after {int(age)} s of deferrals (max_age {limit.max_age} s,"
                    f" {record['attempts']} attempts)")
        tmp = self._path(f".{key}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, self._path(key))
        return None

    def forget(self, key: str) -> None:
        if self.dir is None:
            return
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def prune(self, now: Optional[float] = None) -> None:
        """Remove records nothing has touched for twice the age bound (messages deleted
        upstream by other means)."""
        if self.dir is None or not os.path.isdir(self.dir):
            return
        now = time.time() if now is None else now
        horizon = now - (2 * self.policy.max_age if self.policy.max_age else _PRUNE_AFTER)
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            try:
                if os.lstat(path).st_mtime < horizon:
                    os.unlink(path)
            except OSError:
                pass
