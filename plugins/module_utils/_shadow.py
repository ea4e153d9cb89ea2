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

import os
import re
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    PostconfError,
    Runner,
    ServiceEntry,
    end_group,
    run_on_tty,
)

SHADOW_PREFIX = "mailops-xclient-shadow-"
# Delivery agents: in a shadow each becomes ``discard`` under its own service name.
DELIVERY_AGENTS = frozenset({"smtp", "lmtp", "local", "virtual", "pipe"})
# Entries of the source config directory a shadow does not link (ours, and the two files
# it gets as proposed).
_NOT_LINKED = re.compile(r"^(main\.cf|master\.cf|\.mailops-xclient-.*|.*\.rejected-.*)$")
# Log lines that refuse a configuration (Postfix's own words).
LOG_PROBLEM = re.compile(r"\b(fatal|panic):|warning: .*\bunknown\b|Server configuration error"
                         r"|warning: connect to transport|warning: .*: table lookup problem"
                         r"|warning: .*lookup error")
# A reply line: code, separator, text.
_REPLY = re.compile(r"^(\d{3})([ -]?)(.*)$")
MAX_REPLY_LINES = 100
# A line that says ``postfix start`` failed: the master's or postfix-script's own fatal.
START_FAILED = re.compile(r"(?:^|[\s/])(?:master|postfix-script|postfix)(?:\[\d+\])?:"
                          r" (?:fatal|panic):")
# How often a reply awaited in vain asks whether to stop waiting (seconds).
ABANDON_POLL = 0.1
# The config modules' option (module_utils._config_module) and how long a shadow may take.
SHADOW_SPEC: Dict[str, Any] = dict(type="bool", default=True)
SHADOW_TIMEOUT = 30.0


class ShadowError(Exception):
    """The shadow could not be made or its master did not come up; the message quotes
    Postfix. Nothing of the live instance was touched."""


class ShadowRefused(Exception):
    """Mail does not flow on a shadow of the proposed change; nothing was written."""


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
    queue_id: Optional[str] = None  # the test message's queue ID (shadow only)

    def as_dict(self) -> Dict[str, Any]:
        e = self.endpoint
        return {"service": e.service, "address": e.address, "port": e.port, "ok": self.ok,
                "reply": self.why or (self.transcript[-1][3:] if self.transcript else ""),
                "transcript": self.transcript}


@dataclass
class Proof:
    """The mail-flows proof: every listener's Step plus the log lines that refuse."""

    steps: List[Step] = field(default_factory=list)
    log_problems: List[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and not self.log_problems

    def words(self, limit: int = 6) -> str:
        """Why not, in Postfix's own words (empty when the proof holds): each distinct
        answer once, with the listeners that gave it, then the log lines that refuse
        (without their time stamp)."""
        said: Dict[str, List[str]] = {}
        for step in self.steps:
            if not step.ok:
                said.setdefault(step.why, []).append(step.endpoint.service)
        parts = [f"{why} ({', '.join(where)})" for why, where in said.items()]
        parts += list(dict.fromkeys(unstamped(line) for line in self.log_problems
                                    if "NOQUEUE: reject:" not in line))
        if not self.steps:
            parts.insert(0, "no smtpd listener answered")
        if len(parts) > limit:
            parts = parts[:limit] + [f"and {len(parts) - limit} more"]
        return "; ".join(parts)


def unstamped(line: str) -> str:
    """A log line without its syslog time stamp and host: ``postfix/smtpd[1]: ...``."""
    m = re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (.*)$", line)
    text = re.sub(r"\[\d+\]:", ":", m.group(1) if m else line)
    return re.sub(r"^\S*/([\w-]+):", r"\1:", text)


# --------------------------------------------------------------------- the proof
class _Session:
    """A minimal SMTP client for the proof (a raw one: the probe's client is built for
    XCLIENT and would hide nothing, but this must not depend on it)."""

    def __init__(self, endpoint: Endpoint, deadline: float,
                 abandon: Optional[Callable[[], str]] = None) -> None:
        self.deadline = deadline
        # While a reply is awaited: why to stop waiting now ('' to go on), asked every
        # ABANDON_POLL seconds (a daemon that died of the files answers nothing, ever).
        self.abandon = abandon
        self.transcript: List[str] = []
        family = socket.AF_INET6 if ":" in endpoint.address else socket.AF_INET
        raw = socket.socket(family, socket.SOCK_STREAM)
        self.sock: Any = raw
        try:
            raw.settimeout(self._left())
            raw.connect((endpoint.address, endpoint.port))
            if endpoint.wrapper:
                self.sock = _tls_context().wrap_socket(raw)
        except BaseException:
            raw.close()
            raise
        self.buf = b""

    def _left(self) -> float:
        return max(0.05, self.deadline - time.monotonic())

    def _line(self) -> str:
        while b"\n" not in self.buf:
            if len(self.buf) > 65536:
                raise OSError("reply line too long")
            try:
                if self.abandon is None:
                    self.sock.settimeout(self._left())
                else:
                    self.sock.settimeout(min(ABANDON_POLL, self._left()))
                chunk = self.sock.recv(4096)
            except socket.timeout:
                why = self.abandon() if self.abandon is not None else ""
                if why:
                    raise _Refused(why) from None
                if self.abandon is None or time.monotonic() >= self.deadline:
                    raise
                continue
            if not chunk:
                raise OSError("connection closed by the server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def reply(self) -> Tuple[int, List[str]]:
        lines: List[str] = []
        while len(lines) < MAX_REPLY_LINES:
            line = self._line()
            self.transcript.append(f"S: {line}")
            m = _REPLY.match(line)
            if not m:
                raise OSError(f"not an SMTP reply: {line!r}")
            lines.append(m.group(3))
            if m.group(2) != "-":
                return int(m.group(1)), lines
        raise OSError("reply too long")

    def command(self, text: str) -> Tuple[int, List[str]]:
        self.transcript.append(f"C: {text}")
        self.sock.settimeout(self._left())
        self.sock.sendall(text.encode("ascii") + b"\r\n")
        return self.reply()

    def starttls(self, server_name: str) -> None:
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname=server_name or None)
        self.transcript.append(f"-- TLS {self.sock.version()} {self.sock.cipher()[0]}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _tls_context() -> ssl.SSLContext:
    # The proof asks whether the handshake completes, not whom to trust.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _helo_name(address: str) -> str:
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _one_listener(endpoint: Endpoint, deadline: float, rcpt: str, send_data: bool,
                  abandon: Optional[Callable[[], str]] = None) -> Step:
    step = Step(endpoint, ok=False)
    session: Optional[_Session] = None
    try:
        session = _Session(endpoint, deadline, abandon)
        expect = [("greeting", None, 220)]
        code, lines = session.reply()
        if code != 220:
            raise _Refused(f"greeting {code} {' '.join(lines)}")
        helo = _helo_name(endpoint.address)
        code, lines = session.command(f"EHLO {helo}")
        if code // 100 != 2:
            raise _Refused(f"EHLO answered {code} {' '.join(lines)}")
        keywords = {line.split()[0].upper() for line in lines[1:] if line.split()}
        if "STARTTLS" in keywords and not endpoint.wrapper:
            code, lines = session.command("STARTTLS")
            if code != 220:
                raise _Refused(f"STARTTLS answered {code} {' '.join(lines)}")
            try:
                session.starttls("")
            except (ssl.SSLError, OSError) as exc:
                raise _Refused(f"the STARTTLS handshake failed: {exc}") from exc
            code, lines = session.command(f"EHLO {helo}")
            if code // 100 != 2:
                raise _Refused(f"EHLO after STARTTLS answered {code} {' '.join(lines)}")
        del expect
        for verb in ("MAIL FROM:<>", f"RCPT TO:<{rcpt}>"):
            code, lines = session.command(verb)
            if code // 100 != 2:
                raise _Refused(f"{verb} answered {code} {' '.join(lines)}")
        if send_data:
            code, lines = session.command("DATA")
            if code != 354:
                raise _Refused(f"DATA answered {code} {' '.join(lines)}")
            message = ("Subject: mailops.xclient shadow proof\r\n"
                       f"From: <postmaster@{rcpt.partition('@')[2]}>\r\n\r\n"
                       "This message goes to a discarding transport.\r\n.")
            code, lines = session.command(message)
            if code // 100 != 2:
                raise _Refused(f"end of DATA answered {code} {' '.join(lines)}")
            m = re.search(r"queued as (\S+)", " ".join(lines))
            step.queue_id = m.group(1) if m else None
        else:
            session.command("RSET")
        try:
            session.command("QUIT")
        except OSError:
            pass
        step.ok = True
    except _Refused as exc:
        step.why = str(exc)
    except (OSError, ssl.SSLError) as exc:
        step.why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        if session is not None:
            step.transcript = session.transcript
            session.close()
    return step


class _Refused(Exception):
    pass


def log_problems(lines: List[str]) -> List[str]:
    """The lines among ``lines`` that refuse a configuration (fatal, panic, warnings of
    something unknown, a server configuration error, a missing transport)."""
    return list(dict.fromkeys(line.strip() for line in lines if LOG_PROBLEM.search(line)))


def prove_mail_flows(endpoints: List[Endpoint], timeout: float, domain: str,
                     log: Optional[Callable[[], List[str]]] = None,
                     send_data: bool = False) -> Proof:
    """The mail-flows proof on ``endpoints`` within ``timeout`` seconds.

    ``log()`` returns the log lines written since the caller's mark (None: no log to
    read). ``send_data`` (shadow only) also sends a message and waits until each one is
    delivered by its transport (``status=sent``) or refused."""
    start = time.monotonic()
    deadline = start + timeout
    rcpt = f"postmaster@{domain}" if domain else "postmaster"
    proof = Proof()
    fatal = ""

    def died() -> str:
        """A daemon's fatal or panic line in the log since the mark, unstamped, or ''."""
        return next((unstamped(line) for line in log()
                     if re.search(r"\b(fatal|panic):", line)), "") if log is not None else ""

    for endpoint in endpoints:
        if fatal:  # a daemon died of the files: the rest would only hang, throttled
            proof.steps.append(Step(endpoint, False, why=f"not tried after {fatal}"))
            continue
        # A listener that hangs (a throttled service) gets a few seconds, not all of them.
        own = min(deadline, time.monotonic() + max(2.0, min(5.0, timeout / 2)))
        # With a log, a reply awaited in vain ends as soon as a daemon's fatal line is
        # there (the master throttles the dead service: nothing would ever answer).
        step = _one_listener(endpoint, own, rcpt, send_data,
                             abandon=(lambda: "no reply: a Postfix daemon died (below)"
                                      if died() else "") if log is not None else None)
        proof.steps.append(step)
        if not step.ok and log is not None:
            fatal = died()
    if log is not None:
        queued = {s.queue_id: s for s in proof.steps if s.queue_id}
        lines = log()
        while queued and time.monotonic() < deadline:
            for qid, step in list(queued.items()):
                said = [line for line in lines if f" {qid}: " in line and "status=" in line]
                if said:
                    del queued[qid]
                    if "status=sent" not in said[-1]:
                        step.ok = False
                        step.why = "the test message was not delivered: " + said[-1].strip()
            if queued:
                time.sleep(0.02)
                lines = log()
        for step in queued.values():
            step.ok = False
            step.why = f"the test message {step.queue_id} reached no transport in {timeout}s"
        proof.log_problems = log_problems(lines)
    proof.elapsed = time.monotonic() - start
    return proof


def proof_domain(pc: Postconf) -> str:
    """The domain of the postmaster address the proof sends to: the first domain the
    instance accepts mail for - of ``mydestination``, else ``relay_domains`` (a relay-only
    MX with an empty ``mydestination`` refuses postmaster@``myhostname`` as relaying), else
    ``virtual_alias_domains``, ``virtual_mailbox_domains`` - else ``myhostname``."""
    try:
        for name in ("mydestination", "relay_domains", "virtual_alias_domains",
                     "virtual_mailbox_domains"):
            for item in re.split(r"[\s,]+", pc.expanded(name)):
                if item and ":" not in item and "/" not in item and item != "localhost":
                    return item
        return pc.expanded("myhostname").strip()
    except PostconfError:
        return ""


def endpoints_of(entries: List[ServiceEntry], address_port: Callable[[ServiceEntry],
                 List[Tuple[str, int]]], wrapper_default: bool) -> List[Endpoint]:
    """The smtpd / postscreen inet listeners among ``entries``, one Endpoint per address
    ``address_port(entry)`` gives."""
    out = []
    for entry in entries:
        if entry.type != "inet" or entry.command not in ("smtpd", "postscreen"):
            continue
        value = entry.options.get("smtpd_tls_wrappermode")
        wrapper = (value.strip().lower() in ("yes", "true", "1", "on") if value is not None
                   else wrapper_default)
        for address, port in address_port(entry):
            out.append(Endpoint(entry.key, address, port, wrapper,
                                entry.command == "postscreen"))
    return out


# --------------------------------------------------------------------- the shadow
# Every port free_port() has handed out in this process. The kernel picks a port at random
# for bind(port 0) and may pick one it gave a moment ago (measured here: 2,000 draws gave
# 1,873 distinct ports), e.g. two listeners of one instance; so never hand one out twice.
_HANDED_OUT: Set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``address`` right now (the kernel picks it), never
    one this process handed out before. (The test harness's private instances take their
    ports here too, so a test process never hands one port out twice.)"""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with _PORTS_LOCK:  # shadows may be started from several threads (postfix_whatif)
        for _attempt in range(1000):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((address, 0))
                port = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise ShadowError("no free loopback port")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _split_endpoint(name: str) -> Tuple[str, str]:
    if name.startswith("["):
        host, _sep, rest = name[1:].partition("]")
        return host, rest.lstrip(":")
    host, sep, port = name.rpartition(":")
    return (host, port) if sep else ("", name)


def shadow_name(name: str, v6: bool) -> Tuple[str, Optional[str]]:
    """A shadow master.cf name for the inet service ``name``, and the loopback address it
    binds (None: port only, bound as inet_interfaces = loopback-only says). The address
    family stays: an IPv6 listener stays IPv6, so inet_protocols must still fit it."""
    host, _port = _split_endpoint(name)
    if not host:
        port = free_port("127.0.0.1")
        return str(port), None
    if ":" in host:
        return f"[::1]:{free_port('::1') if v6 else free_port('127.0.0.1')}", "::1"
    return f"127.0.0.1:{free_port('127.0.0.1')}", "127.0.0.1"


class Shadow:
    """A started, probed and removed shadow of the config in ``source_dir``.

    ``source_dir`` holds the proposed main.cf and master.cf; ``links_from`` (default:
    ``source_dir``) is the live config directory whose other entries (tables,
    certificates, ...) the shadow links."""

    def __init__(self, source_dir: str, run: Runner, *, links_from: Optional[str] = None,
                 postconf: str = "/usr/sbin/postconf", postfix: str = "/usr/sbin/postfix",
                 base_parent: Optional[str] = None) -> None:
        self.source_dir = source_dir
        self.links_from = links_from or source_dir
        self.run = run
        self.postconf_bin = postconf
        self.postfix_bin = postfix
        self.base_parent = base_parent
        self.base: Optional[str] = None
        self.endpoints: List[Endpoint] = []
        self.started_said = ""
        self._start_group: Optional[int] = None  # postfix start's, while it runs
        self._v6 = ipv6_loopback()
        self.live_queue = ""
        self.setgid_group = "postdrop"

    # ------------------------------------------------------------------ paths
    def path(self, *parts: str) -> str:
        if self.base is None:
            raise ShadowError("the shadow has not been made")
        return os.path.join(self.base, *parts)

    @property
    def pc(self) -> Postconf:
        return Postconf(self.run, self.path("etc"), postconf=self.postconf_bin,
                        postfix=self.postfix_bin)

    # ------------------------------------------------------------------ life
    def __enter__(self) -> "Shadow":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def make(self) -> None:
        """Write the shadow's directory and files (nothing runs yet)."""
        base = tempfile.mkdtemp(prefix=SHADOW_PREFIX, dir=self.base_parent)
        self.base = base
        os.chmod(base, 0o755)
        etc = self.path("etc")
        os.mkdir(etc, 0o755)
        for name in FILES_PROPOSED:
            src = os.path.join(self.source_dir, name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(etc, name))
        for entry in os.listdir(self.links_from):
            if not _NOT_LINKED.match(entry):
                os.symlink(os.path.join(os.path.realpath(self.links_from), entry),
                           os.path.join(etc, entry))
        # Postfix waits for a main.cf written less than about two seconds ago to settle
        # (every postconf call, and the master); the shadow's copy is ours to date back.
        date_back(os.path.join(etc, "main.cf"))
        pc = self.pc
        owner = pc.effective("mail_owner").strip() or "postfix"
        self.live_queue = pc.effective("queue_directory")
        self.setgid_group = pc.effective("setgid_group").strip() or "postdrop"
        os.mkdir(self.path("queue"), 0o755)
        os.mkdir(self.path("data"), 0o700)
        shutil.chown(self.path("data"), user=owner)
        self._make_queue(owner)
        self._write_master(pc)
        data = self.path("data")
        pc.set_main_many({
            "queue_directory": self.path("queue"),
            "data_directory": data,
            "maillog_file": self.path("maillog"),
            "maillog_file_prefixes": base,
            "inet_interfaces": "loopback-only",
            "multi_instance_enable": "no",
            "multi_instance_wrapper": "",
            "multi_instance_directories": "",
            "alternate_config_directories": "",
            "smtpd_tls_session_cache_database": f"btree:{data}/smtpd_scache",
            "smtp_tls_session_cache_database": f"btree:{data}/smtp_scache",
            "lmtp_tls_session_cache_database": f"btree:{data}/lmtp_scache",
            "postscreen_cache_map": f"btree:{data}/postscreen_cache",
            "address_verify_map": f"btree:{data}/verify_cache",
            "tls_random_exchange_name": f"{data}/prng_exch",
            "postscreen_greet_wait": "1s",
            "in_flow_delay": "0",
        })
        date_back(os.path.join(etc, "main.cf"))

    def _write_master(self, pc: Postconf) -> None:
        entries = pc.services()
        main = {n: pc.effective(n) for n in ("smtpd_tls_wrappermode",)}
        lines = []
        places: Dict[str, List[Tuple[str, int]]] = {}
        for entry in entries:
            if entry.type == "inet":
                name, address = shadow_name(entry.name, self._v6)
                port = int(_split_endpoint(name)[1])
                places[entry.key] = [(address or "127.0.0.1", port)]
                entry_name = name
            else:
                entry_name = entry.name
            command, args = entry.command, entry.args
            if command in DELIVERY_AGENTS:
                command, args = "discard", []
            lines.append(" ".join([entry_name, entry.type, entry.private, entry.unprivileged,
                                   "n", entry.wakeup, entry.maxproc, command] + args))
        if not any(e.command == "postlogd" for e in entries):
            lines.append("postlog unix-dgram n - n - 1 postlogd")
        with open(os.path.join(pc.config_dir, "master.cf"), "w", encoding="utf-8") as fh:
            fh.write("# mailops.xclient shadow: listeners on loopback, delivery discarded\n")
            fh.write("\n".join(lines) + "\n")
        self.endpoints = endpoints_of(
            entries, lambda e: places.get(e.key, []),
            main["smtpd_tls_wrappermode"].strip().lower() in ("yes", "true", "1", "on"))

    def start(self, timeout: float) -> "Shadow":
        """Make the shadow and start its master; ShadowError (Postfix's words) when it
        does not come up within ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            self.make()
        except (OSError, PostconfError) as exc:
            raise ShadowError(f"the shadow could not be made: {exc}") from exc
        pc = self.pc
        self._link_foreign_sockets()
        rc, said = run_on_tty([self.postfix_bin, "-c", pc.config_dir, "start"],
                              timeout=max(1.0, deadline - time.monotonic()),
                              decided=self._start_failed, started=self._starting)
        self.started_said = said
        if rc != 0 or self.master_pid() is None:
            words = list(dict.fromkeys(
                unstamped(line) for line in log_problems(said.splitlines() + self.log_lines())
            )) or [said]
            raise ShadowError("; ".join(w for w in words if w) or
                              f"postfix start exited {rc}")
        return self

    def _start_failed(self, said: bytes) -> bool:
        """While ``postfix start`` runs: has the master's or postfix-script's fatal line
        (on its terminal or in the shadow's log) decided that the start failed? (Another
        daemon's fatal line is the proof's to judge, as before.)"""
        text = said.decode("utf-8", "replace").splitlines() + self.log_lines()
        return any(START_FAILED.search(line) for line in text)

    def _starting(self, pgid: Optional[int]) -> None:
        self._start_group = pgid

    def _make_queue(self, owner: str) -> None:
        """The queue directories (what ``postfix check`` would create, in far less time);
        pid/ stays root's."""
        for name, mode, group in QUEUE_DIRS:
            path = self.path("queue", name)
            os.mkdir(path)
            os.chmod(path, mode)
            if name != "pid":
                shutil.chown(path, user=owner, group=self.setgid_group if group else None)

    def _link_foreign_sockets(self) -> None:
        """Sockets in the live queue's private/ and public/ that no shadow service makes
        (a Dovecot auth socket, a milter): linked, so the shadow talks to them."""
        live_queue = self.live_queue
        names = {(e.private, e.name) for e in self.pc.services() if e.type != "inet"}
        for sub in ("private", "public"):
            live = os.path.join(live_queue, sub)
            try:
                found = os.listdir(live)
            except OSError:
                continue
            for name in found:
                target = self.path("queue", sub, name)
                if os.path.lexists(target) or any(n == name for _p, n in names):
                    continue
                try:
                    os.symlink(os.path.join(live, name), target)
                except OSError:
                    pass

    def master_pid(self) -> Optional[int]:
        try:
            with open(self.path("queue", "pid", "master.pid"), encoding="ascii") as fh:
                pid = int(fh.read().strip())
            with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
                return pid if fh.read().strip() == "master" else None
        except (OSError, ValueError, ShadowError):
            return None

    def log_lines(self) -> List[str]:
        try:
            with open(self.path("maillog"), "rb") as fh:
                return fh.read().decode("utf-8", "replace").splitlines()
        except (OSError, ShadowError):
            return []

    def prove(self, timeout: float) -> Proof:
        """The mail-flows proof on every smtpd listener of the shadow, with a message
        through each to its (discarding) transport."""
        mark = len(self.log_lines())
        proof = prove_mail_flows(self.endpoints, timeout, proof_domain(self.pc),
                                 log=lambda: self.log_lines()[mark:], send_data=True)
        if self.master_pid() is None:
            proof.log_problems.append("the shadow's master process is gone")
        return proof

    def remove(self) -> None:
        """Stop every process of the shadow and delete its directory (idempotent)."""
        if self._start_group is not None:  # a signal came while postfix start ran
            end_group(self._start_group)
            self._start_group = None
        if self.base is None:
            return
        pid = self.master_pid()
        if pid is not None:
            family = descendants(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while living({pid} | family) and time.monotonic() < deadline:
                time.sleep(0.01)
            for left in living({pid} | family):
                try:
                    os.kill(left, signal.SIGKILL)
                except OSError:
                    pass
        for _attempt in range(20):  # a dying daemon may still write a file in it
            shutil.rmtree(self.base, ignore_errors=True)
            if not os.path.exists(self.base):
                break
            time.sleep(0.05)
        self.base = None


FILES_PROPOSED = ("main.cf", "master.cf")
# The queue's directories as postfix-files makes them: (name, mode, group is setgid_group).
QUEUE_DIRS = (("pid", 0o755, False), ("private", 0o700, False), ("public", 0o710, True),
              ("maildrop", 0o730, True), ("incoming", 0o700, False),
              ("active", 0o700, False), ("deferred", 0o700, False), ("defer", 0o700, False),
              ("bounce", 0o700, False), ("trace", 0o700, False), ("flush", 0o700, False),
              ("hold", 0o700, False), ("corrupt", 0o700, False), ("saved", 0o700, False))


def date_back(path: str, seconds: float = 10.0) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


def descendants(pid: int) -> Set[int]:
    parents: Dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    stat = fh.read()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
    out: Set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        kids = {p for p, pp in parents.items() if pp == parent and p not in out}
        out |= kids
        todo += list(kids)
    return out


def living(pids: Set[int]) -> Set[int]:
    """Those of ``pids`` that still run (a zombie does not: it only waits to be reaped)."""
    out = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            out.add(pid)
    return out


@contextmanager
def removal_on_signals(shadow: Shadow) -> Iterator[None]:
    """Within the block, SIGTERM / SIGINT / SIGHUP remove the shadow first, then act as
    before (a KeyboardInterrupt / SystemExit unwinds through the caller's finally)."""
    caught = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before: Dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        shadow.remove()
        raise SystemExit(128 + signum) if signum != signal.SIGINT else KeyboardInterrupt()

    try:
        for sig in caught:
            try:
                before[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: the caller's finally must do
                pass
        yield
    finally:
        for signum, old in before.items():
            signal.signal(signum, old)


def shadow_proof(source_dir: str, run: Runner, timeout: float, **kwargs: Any
                 ) -> Tuple[Proof, List[str]]:
    """Start a shadow of ``source_dir``, prove it and remove it: (proof, shadow log).

    A shadow whose master does not come up gives a failed Proof whose log_problems are
    Postfix's words (not an exception)."""
    deadline = time.monotonic() + timeout
    shadow = Shadow(source_dir, run, **kwargs)
    with removal_on_signals(shadow):
        try:
            try:
                shadow.start(timeout)
            except ShadowError as exc:
                return Proof(log_problems=[str(exc)]), shadow.log_lines()
            proof = shadow.prove(max(1.0, deadline - time.monotonic()))
            return proof, shadow.log_lines()
        finally:
            shadow.remove()


def failures(proof: Proof) -> Set[str]:
    """What refused in ``proof``, comparable across runs (the answers; log lines without
    stamps)."""
    # The answer, not the listener: a rule that refuses the proof's loopback client on one
    # listener today refuses it on a new one too, and is not the change's doing.
    out = {re.sub(r"[0-9A-F]{8,}", "QID", re.sub(r":\d+\]", "]", s.why))
           for s in proof.steps if not s.ok}
    return out | {unstamped(line) for line in proof.log_problems}


def shadow_check(live: Postconf, work: Postconf, timeout: float = SHADOW_TIMEOUT
                 ) -> Dict[str, Any]:
    """The config modules' shadow step: the edited copy in ``work`` (main.cf, master.cf;
    the other files of ``live``'s directory) must let mail flow on a shadow.

    Raises ShadowRefused with Postfix's words. A failure the live files have already (the
    same answer on the same listener, on a shadow of them) is not this change's: it passes
    with a warning, so a broken instance can still be repaired. Returns ``proved``,
    ``seconds``, ``listeners`` and any ``warning``."""
    if os.geteuid() != 0:
        return {"proved": False, "warning": "the change was not tried on a shadow: starting"
                " a Postfix master needs root (run with become, or shadow: false)"}
    opts: Dict[str, Any] = dict(links_from=live.config_dir, postconf=live.postconf_bin,
                                postfix=live.postfix_bin)
    proof, _log = shadow_proof(work.config_dir, live.run, timeout, **opts)
    out: Dict[str, Any] = {"proved": True, "seconds": round(proof.elapsed, 2),
                           "listeners": [{"service": s.endpoint.service, "ok": s.ok}
                                         for s in proof.steps]}
    if proof.ok:
        return out
    before, _log = shadow_proof(live.config_dir, live.run, timeout, **opts)
    new = failures(proof) - failures(before)
    if before.ok or new:
        raise ShadowRefused(
            "the change was tried on a shadow of this Postfix instance (a private copy on"
            " loopback ports, delivering nothing) and mail does not flow there: "
            f"{proof.words()} (nothing was written)")
    out["warning"] = ("mail does not flow on a shadow of the current files either; this"
                      f" change adds no new failure: {before.words()}")
    return out
