# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A shadow of a Postfix instance, and the mail-flows proof.

A *shadow* is a private, throw-away copy of one instance's configuration, run by a real
Postfix master so that Postfix itself - not a list of hazards we thought of - says whether
a proposed main.cf / master.cf lets mail flow:

- its own base directory (``mkdtemp``, mode 0755) with ``etc/`` (the proposed main.cf and
  master.cf; every other entry of the source config directory - tables, certificates,
  ``sasl/``, ``dynamicmaps.cf.d`` - linked, never copied or written), ``queue/``, ``data/``
  and ``maillog``;
- every ``inet`` service moved to a free loopback port of the same address family (an
  IPv6 listener stays IPv6, so ``inet_protocols`` still has to fit it), chroot off;
- every delivery agent (``smtp``, ``lmtp``, ``local``, ``virtual``, ``pipe``) replaced by
  ``discard`` under the same service name, so the transports a config names must still
  exist but nothing is delivered anywhere;
- no signal, file or socket of the live instance is touched: the shadow has its own
  config directory, queue (pid file, sockets) and data directory, and is driven by its
  own master.

Interface (one engine; the what-if and coverage work builds on it)::

    with Shadow(proposed_config_dir, run) as shadow:      # start() ... remove()
        proof = shadow.prove(timeout)                      # -> Proof
        shadow.endpoints                                   # [Endpoint] (shadow ports)
        shadow.log_lines()                                 # the shadow's maillog

    proof = shadow_proof(proposed_config_dir, run, timeout)  # the one-call form

``Shadow.start()`` raises ShadowError with Postfix's own words when the master does not
come up; ``remove()`` stops every process of the shadow and deletes its directory, and
runs on leaving the ``with`` block, on an exception and on SIGTERM/SIGINT/SIGHUP
(``removal_on_signals``).

``prove_mail_flows(endpoints, timeout, log)`` is the one definition of "mail flows", used
on the shadow and after a live reload (``_postfix_instance.prove_alive``): on every
smtpd listener (through postscreen where it fronts one) ``EHLO`` -> ``MAIL FROM:<>`` ->
``RCPT TO:<postmaster@DOMAIN>`` answered 2xx (RFC 5321 requires postmaster to be
accepted), a ``STARTTLS`` handshake where the listener offers it, TLS from the first byte
on a wrapper-mode listener, and no new ``fatal:`` / ``panic:`` / ``warning: ... unknown``
/ ``Server configuration error`` line in the log. On a shadow, a message is also sent
through each listener and must reach its (discarding) transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Runner,
)


class ShadowError(Exception):
    """The shadow could not be made or its master did not come up; the message quotes
    Postfix. Nothing of the live instance was touched."""


@dataclass
class Endpoint:
    """One smtpd (or postscreen) listener to prove."""

    service: str  # the master.cf key of the live instance, e.g. ``smtp/inet``
    address: str  # where to connect
    port: int
    wrapper: bool = False  # TLS from the first byte (smtpd_tls_wrappermode)
    postscreen: bool = False


@dataclass
class Step:
    """One listener's verdict: what was sent and what Postfix answered."""

    endpoint: Endpoint
    ok: bool
    transcript: List[str] = field(default_factory=list)  # "C: ..." / "S: ..." lines
    why: str = ""


@dataclass
class Proof:
    """The mail-flows proof: every listener's Step plus the log lines that refuse."""

    steps: List[Step] = field(default_factory=list)
    log_problems: List[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and not self.log_problems

    def words(self) -> str:
        """Why not, in Postfix's own words (empty when the proof holds)."""
        raise NotImplementedError


def prove_mail_flows(endpoints: List[Endpoint], timeout: float, domain: str,
                     log: Optional[Callable[[], List[str]]] = None) -> Proof:
    raise NotImplementedError


class Shadow:
    """A started, probed and removed shadow of the config in ``source_dir``."""

    def __init__(self, source_dir: str, run: Runner, *, links_from: Optional[str] = None,
                 postconf: str = "/usr/sbin/postconf", postfix: str = "/usr/sbin/postfix",
                 base_parent: Optional[str] = None) -> None:
        raise NotImplementedError

    def start(self, timeout: float) -> "Shadow":
        raise NotImplementedError

    def prove(self, timeout: float) -> Proof:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError


def shadow_proof(source_dir: str, run: Runner, timeout: float, **kwargs: object
                 ) -> Tuple[Proof, List[str]]:
    """Start a shadow of ``source_dir``, prove it and remove it: (proof, shadow log)."""
    raise NotImplementedError
