# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Postfix instance for tests and the demo.

Everything lives under one base directory: config dir, queue, data dir, maillog,
lookup tables. main.cf and master.cf start as the postfix role writes a private instance
(its own templates, roles/postfix/templates); the harness adds its listeners and rules.
Listeners bind loopback ports only; every transport is ``discard``, so nothing is
delivered anywhere. The machine's default instance (/etc/postfix) is never
read from or written to: we pass ``-c CONFIG_DIR`` to every Postfix command.

Use from pytest (see tests/conftest.py) or from a shell / playbook::

    python3 tests/harness/private_postfix.py start /tmp/pf   # prints JSON facts
    python3 tests/harness/private_postfix.py stop /tmp/pf
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import collection
from role_files import render_template, selfsigned_certificate
from stub_resolver import StubResolver

collection.source_collections(on_sys_path=True)
# The product's own: free loopback ports (never one handed out twice in this process) and
# whether ::1 can be bound. Tests import them from here.
# pylint: disable-next=wrong-import-position
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (  # noqa: E402
    free_port,
    ipv6_loopback,
)

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

# Access rules of the test instance. Each rule matches only an address or name that a test
# sends with XCLIENT, so a verdict proves which identity Postfix applied the rule to.
_CLIENT_ACCESS_CIDR = """\
# Client addresses the private instance refuses (matched against the XCLIENT ADDR).
192.0.2.66/32           REJECT client 192.0.2.66 is blocked by test policy
198.51.100.0/24         REJECT network 198.51.100.0/24 is blocked by test policy
[2001:db8::66]/128      REJECT client 2001:db8::66 is blocked by test policy
127.0.0.66/32           REJECT client 127.0.0.66 is blocked by test policy
203.0.113.45/32         DEFER_IF_PERMIT client 203.0.113.45 is greylisted by test policy
"""

_SASL_SMTPD_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: {base}/sasldb2
mech_list: PLAIN LOGIN
"""

# A policy service spawned by Postfix itself: it records every attribute Postfix passes
# (client_address, server_address, server_port, ...) and answers DUNNO. It changes no
# decision; it only makes DESTADDR / DESTPORT visible, as Postfix hands them to policy
# servers.
_POLICY_LOGGER = '''#!/bin/sh
# One line per policy request: the attributes, tab-separated. Always answers DUNNO.
out=$1
req=
while IFS= read -r line; do
    if [ -n "$line" ]; then req="$req	$line"; continue; fi
    printf '%s\\n' "$req" >> "$out"
    printf 'action=DUNNO\\n\\n'
    req=
done
'''


class _Under:
    """A path below the instance's base directory (a read-only attribute)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, inst: Any, owner: Any = None) -> str:
        if inst is None:
            raise AttributeError("a path of an instance")
        return os.path.join(inst.base, *self.parts)


@dataclass
class PrivatePostfix:
    """One private instance; ``start()`` writes its files and starts it."""

    base: str
    hostname: str = "probe-target.test"
    # Listener name -> port; filled by start().
    ports: Dict[str, int] = field(default_factory=dict)
    ipv6: bool = False
    tls: bool = True
    policy_logger: bool = True  # record policy requests (DESTADDR etc.); off for benchmarks
    extra_main: Dict[str, str] = field(default_factory=dict)
    # Answer every DNS lookup of the instance with "no such name" (tests/harness/
    # stub_resolver.py), so its verdicts never depend on the machine's DNS. Needs the
    # process that started it to live as long as the instance: off for the command line.
    own_resolver: bool = True
    _resolver: Optional[StubResolver] = field(default=None, repr=False)

    # ----------------------------------------------------------------- paths
    config_dir = _Under("etc")
    queue_dir = _Under("queue")
    data_dir = _Under("data")
    maillog = _Under("maillog")
    # Self-signed certificate for the hostname and 127.0.0.1 (also the CA file).
    cert_file = _Under("etc", "cert.pem")
    key_file = _Under("etc", "key.pem")
    policy_log = _Under("policy.jsonl")

    # ----------------------------------------------------------------- config
    @property
    def version(self) -> str:
        """The installed Postfix's mail_version (3.7.x on Debian 12, 3.10.x on Debian 13)."""
        return subprocess.run([POSTCONF, "-d", "-h", "mail_version"], check=True,
                              capture_output=True, text=True).stdout.strip()

    def main_cf(self) -> Dict[str, str]:
        """What the harness sets beyond (or instead of) the role's main.cf.j2."""
        base = self.base
        params = {
            "mydomain": "test",
            "myorigin": "$myhostname",
            "smtpd_banner": "$myhostname ESMTP private-test-instance",
            "inet_protocols": "all" if self.ipv6 else "ipv4",
            "mynetworks": "127.0.0.1/32" + (" [::1]/128" if self.ipv6 else ""),
            "mydestination": "",
            "relay_domains": "example.net",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            # Nothing leaves the instance: every transport discards.
            "default_transport": "discard:private test instance",
            "relay_transport": "discard:private test instance",
            "local_transport": "discard:private test instance",
            "virtual_transport": "discard:private test instance",
            "in_flow_delay": "0",
            # Postfix 3.10 defaults this to yes; an XCLIENT test instance (as behind a proxy)
            # says no on every version, as the postfix role does on its XCLIENT listeners.
            "smtpd_forbid_unauth_pipelining": "no",
            "smtpd_peername_lookup": "yes",
            "unknown_client_reject_code": "550",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "default_process_limit": "200",
            "smtpd_helo_restrictions": "",
            "smtpd_client_restrictions": "",
            "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated,"
                                        " reject_unauth_destination",
            "smtpd_recipient_restrictions": " ".join([
                "check_policy_service unix:private/policylog," if self.policy_logger else "",
                f"check_client_access cidr:{base}/etc/client_access.cidr,",
                "check_reverse_client_hostname_access"
                " inline:{ {rev-blocked.example = REJECT reverse name blocked by test policy} },",
                "check_helo_access"
                " inline:{ {bad-helo.example = REJECT helo bad-helo.example"
                " blocked by test policy} },",
                "reject_unknown_client_hostname,",
                "permit_mynetworks,",
                "permit_sasl_authenticated,",
                "reject_unauth_destination,",
                "permit",
            ]),
            "policylog_time_limit": "3600",
            "smtpd_sasl_auth_enable": "no",
            "cyrus_sasl_config_path": os.path.join(base, "etc", "sasl"),
            "smtpd_sasl_path": "smtpd",
            "smtpd_tls_security_level": "none",
        }
        params.update(self.extra_main)
        return params

    def listeners(self) -> List[str]:
        p = self.ports
        authorized = "127.0.0.1" + (" [::1]" if self.ipv6 else "")
        entries = [
            # XCLIENT-authorized for the loopback client.
            (f"127.0.0.1:{p['authorized']}", [
                "syslog_name=postfix/authorized",
                f"{{ smtpd_authorized_xclient_hosts = {authorized} }}",
            ]),
            # Nobody may use XCLIENT here (main.cf default: empty).
            (f"127.0.0.1:{p['unauthorized']}", ["syslog_name=postfix/unauthorized"]),
            # SASL enabled (so XCLIENT LOGIN counts for permit_sasl_authenticated even on
            # versions before 3.7.12), client port logging on.
            (f"127.0.0.1:{p['sasl']}", [
                "syslog_name=postfix/sasl",
                f"{{ smtpd_authorized_xclient_hosts = {authorized} }}",
                "smtpd_sasl_auth_enable=yes",
                "smtpd_tls_auth_only=no",
                "smtpd_client_port_logging=yes",
            ]),
        ]
        if self.tls:
            tls_opts = [f"smtpd_tls_cert_file={self.cert_file}",
                        f"smtpd_tls_key_file={self.key_file}",
                        f"{{ smtpd_authorized_xclient_hosts = {authorized} }}"]
            entries.append((f"127.0.0.1:{p['starttls']}", [
                "syslog_name=postfix/starttls", "smtpd_tls_security_level=may"] + tls_opts))
            entries.append((f"127.0.0.1:{p['smtps']}", [
                "syslog_name=postfix/smtps", "smtpd_tls_wrappermode=yes",
                "smtpd_tls_security_level=encrypt"] + tls_opts))
        lines = []
        for addr, opts in entries:
            lines.append(f"{addr} inet n - n - - smtpd")
            lines.extend(f"  -o {o}" for o in opts)
        if self.ipv6:
            lines.append(f"[::1]:{p['authorized']} inet n - n - - smtpd")
            lines.append("  -o syslog_name=postfix/authorized6")
            lines.append(f"  -o {{ smtpd_authorized_xclient_hosts = {authorized} }}")
        lines.append("policylog unix - n n - 0 spawn")
        lines.append(f"  user=nobody argv=/bin/sh {self.base}/etc/policy_logger.sh"
                     f" {self.policy_log}")
        return lines

    def main_cf_text(self) -> str:
        """The role's main.cf.j2 for this instance, with main_cf() merged in: a parameter
        the template sets takes the harness's value in place, the others follow."""
        params = self.main_cf()
        lines = []
        for line in render_template("postfix", "main.cf.j2", postfix_instance_base=self.base,
                                    postfix_myhostname=self.hostname).splitlines():
            key = line.partition("=")[0].strip()
            if not line.startswith("#") and key in params:
                line = f"{key} = {params.pop(key)}"
            lines.append(line)
        lines += [f"{key} = {value}" for key, value in params.items()]
        return "\n".join(lines) + "\n"

    def master_cf_text(self) -> str:
        """The role's master.cf.j2 (the unix services) and this instance's listeners."""
        return (render_template("postfix", "master.cf.j2")
                + "\n".join(self.listeners()) + "\n")

    def write_config(self) -> None:
        for d in (self.config_dir, self.queue_dir, self.data_dir,
                  os.path.join(self.config_dir, "sasl")):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.base, 0o755)
        shutil.chown(self.data_dir, user="postfix", group="postfix")
        with open(os.path.join(self.config_dir, "main.cf"), "w", encoding="utf-8") as fh:
            fh.write(self.main_cf_text())
        with open(os.path.join(self.config_dir, "master.cf"), "w", encoding="utf-8") as fh:
            fh.write(self.master_cf_text())
        with open(os.path.join(self.config_dir, "client_access.cidr"), "w",
                  encoding="utf-8") as fh:
            fh.write(_CLIENT_ACCESS_CIDR)
        with open(os.path.join(self.config_dir, "sasl", "smtpd.conf"), "w",
                  encoding="utf-8") as fh:
            fh.write(_SASL_SMTPD_CONF.format(base=self.base))
        logger = os.path.join(self.config_dir, "policy_logger.sh")
        with open(logger, "w", encoding="utf-8") as fh:
            fh.write(_POLICY_LOGGER)
        os.chmod(logger, 0o755)
        if self.tls and not os.path.exists(self.cert_file):
            selfsigned_certificate(self.hostname, self.cert_file, self.key_file)
        # The policy logger runs as nobody and appends here.
        open(self.policy_log, "a", encoding="utf-8").close()
        os.chmod(self.policy_log, 0o666)

    # ----------------------------------------------------------------- control
    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([POSTFIX, "-c", self.config_dir, *args], check=check,
                              capture_output=True, text=True)

    def port_names(self) -> Tuple[str, ...]:
        """The listeners start() gives a free port (unless ports names one already)."""
        return ("authorized", "unauthorized", "sasl") + (
            ("starttls", "smtps") if self.tls else ())

    def start(self, timeout: float = 20.0) -> "PrivatePostfix":
        self.ipv6 = self.ipv6 and ipv6_loopback()
        self.tls = self.tls and shutil.which("openssl") is not None
        for name in self.port_names():
            self.ports.setdefault(name, free_port())
        self.write_config()
        # postfix check also creates the queue directories with the right owners.
        res = self.postfix("check", check=False)
        if res.returncode != 0:
            raise RuntimeError(f"postfix check failed for {self.config_dir}: {res.stderr}")
        if self.own_resolver:
            res = self._start_with_own_resolver()
        else:
            res = self.postfix("start", check=False)
        if res.returncode != 0:
            raise RuntimeError(f"postfix start failed for {self.config_dir}: {res.stderr}")
        try:
            wait_ports(list(self.ports.values()), timeout, f"private Postfix in {self.base}")
        except RuntimeError:
            self.stop()
            raise
        return self

    @property
    def resolver_queries(self) -> int:
        """How many lookups the stub resolver answered (0 without one)."""
        return self._resolver.queries if self._resolver is not None else 0

    def _start_with_own_resolver(self) -> subprocess.CompletedProcess:
        """postfix start in a mount namespace of its own whose /etc/resolv.conf names the
        stub resolver; the master and every daemon it starts stay in that namespace."""
        if self._resolver is None:
            self._resolver = StubResolver()
        conf = os.path.join(self.base, "resolv.conf")
        with open(conf, "w", encoding="ascii") as fh:
            fh.write(self._resolver.resolv_conf())
        os.chmod(conf, 0o644)
        # The bind mount must not reach the machine: make every mount private first. In a
        # chroot "/" is no mount point and that fails; then nothing may be shared already.
        script = ('{ mount --make-rprivate / 2>/dev/null'
                  ' || ! grep -q " shared:" /proc/self/mountinfo; }'
                  ' && mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3" start')
        return subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
                               script, "_", conf, POSTFIX, self.config_dir],
                              check=False, capture_output=True, text=True)

    def stop(self) -> None:
        self.postfix("stop", check=False)
        pidfile = os.path.join(self.queue_dir, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while os.path.exists(pidfile) and time.monotonic() < deadline:
            try:
                pid = int(open(pidfile, encoding="ascii").read().strip())
                os.kill(pid, 0)
            except (ValueError, OSError):
                break
            time.sleep(0.05)
        if self._resolver is not None:
            self._resolver.close()
            self._resolver = None

    def children(self) -> Set[int]:
        """The PIDs of the master's child processes (smtpd, qmgr, ...) right now."""
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid"), encoding="ascii") as fh:
                master = int(fh.read().strip())
        except (OSError, ValueError):
            return set()
        return children_of(master)

    def reload(self, timeout: float = 30.0) -> None:
        """postfix reload, returning once the processes that ran the old configuration are
        gone: an idle smtpd started before the reload would otherwise still take the next
        connection with the old settings (they exit within ~50 ms on an idle machine)."""
        old = self.children()
        self.postfix("reload")
        wait_gone(old, timeout)

    def running(self) -> bool:
        return self.postfix("status", check=False).returncode == 0

    # ----------------------------------------------------------------- logs
    def log_lines(self) -> List[str]:
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as fh:
                return fh.read().splitlines()
        except FileNotFoundError:
            return []

    def quiet_log_length(self, timeout: float = 5.0) -> int:
        """The number of log lines once the log has stopped growing (0.3 s without a new
        line, at most ``timeout``): Postfix logs asynchronously, so an earlier session's
        lines, its "connect from" too, may still be on their way."""
        before, deadline = -1, time.monotonic() + timeout
        while True:
            now = len(self.log_lines())
            if now == before or time.monotonic() >= deadline:
                return now
            before = now
            time.sleep(0.3)

    def connections_since(self, before: int) -> List[str]:
        """The smtpd "connect from" lines after the first ``before`` lines of the log: new
        sessions only (an earlier session's later lines - its disconnect, the queue
        manager's - may still be arriving and do not count)."""
        return [line for line in self.log_lines()[before:] if _CONNECT.search(line)]

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> List[str]:
        """Lines matching ``pattern`` (a regex), waiting until at least one appears."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            hits = [line for line in self.log_lines() if rx.search(line)]
            if hits or time.monotonic() >= deadline:
                return hits
            time.sleep(0.05)

    def policy_requests(self) -> List[dict]:
        requests = []
        with open(self.policy_log, encoding="utf-8") as fh:
            for line in fh:
                pairs = [p.partition("=") for p in line.rstrip("\n").split("\t") if p]
                requests.append({key: value for key, _sep, value in pairs})
        return requests

    def facts(self) -> dict:
        data = asdict(self)
        data.update(config_dir=self.config_dir, maillog=self.maillog,
                    queue_dir=self.queue_dir)
        return data


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def smtp_replies(port: int, commands: Tuple[bytes, ...] = (), timeout: float = 10.0,
                 host: str = "127.0.0.1") -> List[List[str]]:
    """A plain SMTP exchange: the greeting, the reply to ``EHLO probe.test``, then the reply
    to each of ``commands``; each reply is its lines. A raw client (not the collection's),
    for checks of the instance itself."""
    replies = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        for command in (None, b"EHLO probe.test", *commands):
            if command is not None:
                sock.sendall(command + b"\r\n")
            lines = []
            while True:
                line = reader.readline().decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                if line[3:4] != "-":
                    break
            replies.append(lines)
    return replies


_CONNECT = re.compile(r"/smtpd\[\d+\]: connect from ")


def children_of(parent: int) -> Set[int]:
    """The PIDs whose parent is ``parent`` (read from /proc)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
            out.add(int(entry))
    return out


def wait_gone(pids: Set[int], timeout: float) -> None:
    """Until none of ``pids`` runs any more, or RuntimeError."""
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in pids if os.path.exists(f"/proc/{pid}")}
        if not left:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"processes {sorted(left)} still run {timeout}s after reload")
        time.sleep(0.02)


def wait_ports(ports: List[int], timeout: float, where: str) -> None:
    """Until every one of ``ports`` on 127.0.0.1 accepts a connection, or RuntimeError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_port_open("127.0.0.1", port) for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{where}: ports {ports} did not open in {timeout}s")


def new_base(prefix: str) -> str:
    """A fresh base directory. Not pytest's tmp_path: that is mode 0700 below
    /tmp/pytest-of-root, and Postfix's unprivileged daemons must reach the queue and the
    policy log."""
    base = tempfile.mkdtemp(prefix=prefix)
    os.chmod(base, 0o755)
    return base


@contextmanager
def running_instance(prefix: str, cls: type = PrivatePostfix,
                     **options: Any) -> Iterator[Any]:
    """A started instance of ``cls`` in a fresh base directory; stopped and removed after
    (for fixtures: ``with running_instance(...) as inst: yield inst``)."""
    inst = cls(base=new_base(prefix), **options).start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] not in ("start", "stop", "status"):
        print("usage: private_postfix.py start|stop|status BASE_DIR", file=sys.stderr)
        return 2
    action, base = argv[0], os.path.abspath(argv[1])
    state = os.path.join(base, "instance.json")
    if action == "start":
        os.makedirs(base, exist_ok=True)
        inst = PrivatePostfix(base=base, ipv6=True, own_resolver=False).start()
        with open(state, "w", encoding="utf-8") as fh:
            json.dump(inst.facts(), fh, indent=2)
        print(json.dumps(inst.facts()))
        return 0
    if not os.path.exists(state):
        print(f"no private instance recorded in {base}", file=sys.stderr)
        return 1
    with open(state, encoding="utf-8") as fh:
        facts = json.load(fh)
    inst = PrivatePostfix(base=base, ports=facts["ports"], ipv6=facts["ipv6"],
                          own_resolver=False)
    if action == "status":
        return 0 if inst.running() else 3
    inst.stop()
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
