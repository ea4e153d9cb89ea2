# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start, stop, reload or restart one Postfix instance and prove it survived.

Before a start, reload or restart loads files that are not last-known-good, they run on a
shadow (``_shadow``) and must let mail flow there; otherwise nothing is reloaded.

"Alive" means: the master runs (``postfix status``) and mail flows on every ``inet`` smtpd
or postscreen listener of the instance (``_shadow.prove_mail_flows``: EHLO, STARTTLS where
offered, MAIL FROM:<>, RCPT TO:<postmaster@...> answered 2xx; no message is sent) within
the timeout. After every action that loaded the files and ended alive, a last-known-good copy
of main.cf and master.cf is kept under the config directory (one copy, mode 0600). When
the instance does not come up alive and rollback is on, the rejected files are kept aside
with a timestamp, last-known-good is put back, Postfix is started again and proven alive,
and the caller fails with Postfix's own fatal message.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, NoReturn, Optional, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    PostconfError,
    run_on_tty,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    generic_field,
    listeners,
    master_pid,
    preflight,
)
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    Endpoint,
    Proof,
    Step,
    descendants,
    failures,
    living,
    proof_domain,
    prove_mail_flows,
    shadow_proof,
)

FILES = ("main.cf", "master.cf")
LKG_DIR = ".mailops-xclient-last-known-good"
REJECTED_SUFFIX = ".rejected-"
DEFAULT_CONFIG_DIR = "/etc/postfix"
STATES = ("started", "stopped", "reloaded", "restarted")
# At most this long for the processes that ran the old files to exit after a reload (idle
# ones exit within about 50 ms).
SETTLE_SECONDS = 5.0
# A proof step that ended because its time ran out (socket timeout, in any wording).
TIMED_OUT = re.compile(r"timed out|TimeoutError|\btimeout\b", re.IGNORECASE)


class InstanceError(Exception):
    """The action failed; ``result`` says what was done (rolled back or not)."""

    def __init__(self, message: str, result: Dict) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class Controls:
    """How to act on the instance: the postfix binary or systemd."""

    pc: Postconf
    systemctl: Optional[str] = None  # set: the default instance on a systemd host
    postmap: Optional[str] = None  # for explaining a failure with the pre-flight check

    def action(self, verb: str, deadline: Optional[float] = None) -> Tuple[int, str]:
        if self.systemctl:
            systemd_verb = {"start": "start", "stop": "stop", "reload": "reload",
                            "restart": "restart"}[verb]
            rc, out, err = self.pc.run([self.systemctl, systemd_verb, "postfix"])
            return rc, (err or out).strip()
        if verb == "restart":
            rc, said = self.action("stop", deadline)
            if rc != 0 and self.running():
                return rc, said
            self.wait_stopped(_left(deadline, 30))
            return self.action("start", deadline)
        return run_on_tty([self.pc.postfix_bin, "-c", self.pc.config_dir, verb],
                          timeout=_left(deadline, 120))

    def running(self) -> bool:
        rc, _out, _err = self.pc.run([self.pc.postfix_bin, "-c", self.pc.config_dir,
                                      "status"])
        return rc == 0

    def wait_stopped(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def _left(deadline: Optional[float], default: float) -> float:
    """Seconds left until ``deadline`` (at least 1), or ``default`` without one."""
    return default if deadline is None else max(1.0, deadline - time.monotonic())


def is_default_instance(config_dir: str) -> bool:
    return os.path.realpath(config_dir) == os.path.realpath(DEFAULT_CONFIG_DIR)


def uses_systemd(config_dir: str, systemd_dir: str = "/run/systemd/system") -> bool:
    """The default instance on a host booted with systemd is systemd's to manage."""
    return is_default_instance(config_dir) and os.path.isdir(systemd_dir)


# --------------------------------------------------------------------- proof of life
@dataclass
class Answer:
    service: str
    address: str
    port: int
    ok: bool
    reply: str

    def as_dict(self) -> Dict:
        return {"service": self.service, "address": self.address, "port": self.port,
                "ok": self.ok, "reply": self.reply}


def greeting(address: str, port: int, timeout: float, tls: bool = False
             ) -> Tuple[bool, str]:
    """Connect and read the first reply line; (True, line) for a 220. ``tls``: the
    listener speaks TLS from the first byte (smtpd_tls_wrappermode); only the greeting is
    wanted, so the certificate is not verified."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as raw:
            raw.settimeout(timeout)
            raw.connect((address, port))
            sock = raw
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw)
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
            try:
                sock.sendall(b"QUIT\r\n")
            except OSError:
                pass
    except OSError as exc:
        return False, str(exc)
    line = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return line.startswith("220"), line or "(connection closed without a reply)"


def smtp_endpoints(pc: Postconf) -> List[Tuple[str, str, int, bool]]:
    """(service, address to connect to, port, TLS first) of every inet smtpd/postscreen
    listener."""
    entries = [e for e in pc.services()
               if e.type == "inet" and e.command in ("smtpd", "postscreen")]
    main = {n: pc.effective(n) for n in ("inet_interfaces", "inet_protocols",
                                         "smtpd_tls_wrappermode")}
    wrapper = {e.key: e.options.get("smtpd_tls_wrappermode", main["smtpd_tls_wrappermode"])
               .strip().lower() in ("yes", "true", "1", "on") for e in entries}
    out = []
    for lst in listeners(entries, main):
        if lst.port is None:
            continue
        for addr in lst.addresses:
            target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(addr, addr)
            out.append((lst.service, target, lst.port, wrapper[lst.service]))
    return out


def live_endpoints(pc: Postconf) -> List[Endpoint]:
    """The Endpoints of the mail-flows proof for the running instance."""
    return [Endpoint(service, addr, port, tls) for service, addr, port, tls
            in smtp_endpoints(pc)]


def prove_alive(controls: Controls, timeout: float, wait_listeners: bool,
                log: Optional[Tuple[Optional[str], int]] = None,
                baseline: Optional[Set[str]] = None) -> Tuple[bool, List[Step], str]:
    """(alive, per-listener verdicts, why not): the master runs and, with
    ``wait_listeners``, mail flows on every smtpd listener (``prove_mail_flows``, no
    message sent; refusing lines of ``maillog_file`` since ``log`` count). Retries until
    ``timeout``."""
    deadline = time.monotonic() + timeout
    steps: List[Step] = []
    while True:
        why = ""
        if not controls.running():
            # the master does not come back by itself: no point waiting for it
            return False, steps, "the Postfix master process is not running"
        if wait_listeners:
            try:
                endpoints, domain = live_endpoints(controls.pc), proof_domain(controls.pc)
            except PostconfError as exc:
                endpoints, domain = [], ""
                why = f"postconf cannot read the configuration: {exc}"
            reader = (lambda: _log_since(log)) if log and log[0] else None
            proof = prove_mail_flows(endpoints, max(0.5, deadline - time.monotonic()),
                                     domain, log=reader) if endpoints else Proof()
            steps = proof.steps
            as_before = bool(baseline) and not failures(proof) - (baseline or set())
            # (refused exactly as before the action: not the files' doing)
            if endpoints and not proof.ok and not as_before and not why:
                why = "mail does not flow: " + proof.words()
                if any("fatal:" in line or "panic:" in line for line in proof.log_problems):
                    return False, steps, why  # a daemon died of the files: final
        if not why and controls.running():
            return True, steps, ""
        if time.monotonic() >= deadline:
            return False, steps, why
        time.sleep(0.1)


def _log_since(log: Optional[Tuple[Optional[str], int]]) -> List[str]:
    if not log or not log[0]:
        return []
    try:
        with open(log[0], "rb") as fh:
            fh.seek(log[1])
            return fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


# --------------------------------------------------------------------- files
def lkg_dir(config_dir: str) -> str:
    return os.path.join(config_dir, LKG_DIR)


def has_lkg(config_dir: str) -> bool:
    return all(os.path.isfile(os.path.join(lkg_dir(config_dir), n)) for n in FILES)


def _copy_atomic(src: str, dst: str, mode: int) -> None:
    directory = os.path.dirname(dst)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".mailops-xclient-tmp-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_lkg(config_dir: str) -> None:
    """One last-known-good copy of main.cf and master.cf, mode 0600, replaced in place."""
    target = lkg_dir(config_dir)
    os.makedirs(target, mode=0o700, exist_ok=True)
    os.chmod(target, 0o700)
    for name in FILES:
        _copy_atomic(os.path.join(config_dir, name), os.path.join(target, name), 0o600)


def same_as_lkg(config_dir: str) -> bool:
    if not has_lkg(config_dir):
        return False
    for name in FILES:
        with open(os.path.join(config_dir, name), "rb") as a, \
                open(os.path.join(lkg_dir(config_dir), name), "rb") as b:
            if a.read() != b.read():
                return False
    return True


def master_started_at(pc: Postconf) -> Optional[float]:
    """When this instance's running master started (epoch seconds, full precision), or
    None: the time the master wrote its pid file (queue_directory/pid/master.pid), which
    it does once, at start (a reload does not rewrite it). Not /proc/stat ``btime`` plus
    the process's start ticks: btime is whole seconds, so that sum could come out before
    a file written just before the start."""
    if master_pid(pc) is None:
        return None
    try:
        queue = pc.effective("queue_directory")
        return os.stat(os.path.join(queue, "pid", "master.pid")).st_mtime
    except (OSError, PostconfError):
        return None


def seed_lkg(pc: Postconf) -> bool:
    """Before the first edit: keep the current files as last-known-good when the running
    master started after they were last written (so it runs exactly these files).

    Without this, the first reload after the first edit would have nothing to roll back
    to. Returns whether a copy was made."""
    config_dir = pc.config_dir
    if has_lkg(config_dir):
        return False
    started = master_started_at(pc)
    if started is None:
        return False
    try:
        newest = max(os.stat(os.path.join(config_dir, n)).st_mtime for n in FILES)
    except OSError:
        return False
    if newest >= started:
        return False
    save_lkg(config_dir)
    return True


def set_aside_and_restore(config_dir: str, stamp: str) -> List[str]:
    """Keep the rejected files as NAME.rejected-STAMP, put last-known-good back."""
    kept = []
    for name in FILES:
        path = os.path.join(config_dir, name)
        aside = f"{path}{REJECTED_SUFFIX}{stamp}"
        mode = os.stat(path).st_mode & 0o777
        shutil.copy2(path, aside)
        kept.append(aside)
        _copy_atomic(os.path.join(lkg_dir(config_dir), name), path, mode)
    return kept


# --------------------------------------------------------------------- logs
def log_offset(pc: Postconf) -> Tuple[Optional[str], int]:
    try:
        path = pc.effective("maillog_file").strip() or None
    except PostconfError:
        path = None
    if path and os.path.isfile(path):
        return path, os.path.getsize(path)
    return path, 0


def fatal_lines(pc: Postconf, log: Tuple[Optional[str], int], since: float,
                extra: str = "") -> List[str]:
    """Postfix's own fatal/panic messages since the action: maillog_file, else the
    journal, plus what a postfix command printed."""
    lines: List[str] = []
    path, offset = log
    if path and os.path.isfile(path):
        with open(path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode("utf-8", "replace").splitlines()
    else:
        journalctl = shutil.which("journalctl")
        if journalctl:
            rc, out, _err = pc.run([journalctl, "-q", "--no-pager", "-o", "cat",
                                    f"--since=@{int(since)}", "SYSLOG_FACILITY=2"])
            if rc == 0:
                lines = out.splitlines()
    lines += extra.splitlines()
    picked = [line.strip() for line in lines if "fatal:" in line or "panic:" in line]
    return list(dict.fromkeys(picked))


def explain(controls: Controls) -> List[str]:
    """What the pre-flight check finds in the files compared with last-known-good.

    The master's own fatal message at start-up often reaches no log (with maillog_file it
    dies before postlogd runs), so this is what tells the user which line did it."""
    if not controls.postmap or not has_lkg(controls.pc.config_dir):
        return []
    pc = controls.pc
    lkg = Postconf(pc.run, lkg_dir(pc.config_dir), postconf=pc.postconf_bin,
                   postfix=pc.postfix_bin)
    try:
        problems = preflight(lkg, pc, controls.postmap)
    except PostconfError as exc:
        return [f"postconf cannot read the files: {exc}"]
    return [f"{generic_field(p.locator)}: {p.message}" for p in problems]


# --------------------------------------------------------------------- the action
@dataclass
class Plan:
    state: str
    running: bool
    verb: Optional[str]  # start | stop | reload | restart | None (nothing to do)
    loads_files: bool = field(default=False)


def plan(state: str, running: bool) -> Plan:
    if state == "started":
        return Plan(state, running, None if running else "start", not running)
    if state == "stopped":
        return Plan(state, running, "stop" if running else None)
    if state == "reloaded":
        return Plan(state, running, "reload" if running else "start", True)
    return Plan(state, running, "restart" if running else "start", True)


def shadow_first(controls: Controls, todo: Plan, timeout: float,
                 baseline: Set[str]) -> Optional[Dict]:
    """Before ``todo`` loads files that are not last-known-good: the files on a shadow.
    None when there is nothing to try; else the shadow's result (``proved``, ``seconds``,
    ``words``)."""
    pc = controls.pc
    if not todo.loads_files or same_as_lkg(pc.config_dir):
        return None
    if os.geteuid() != 0:
        return {"proved": False, "words": "", "warning": "the files were not tried on a"
                " shadow: starting a Postfix master needs root"}
    proof, _log = shadow_proof(pc.config_dir, pc.run, timeout, postconf=pc.postconf_bin,
                               postfix=pc.postfix_bin)
    out = {"proved": proof.ok, "seconds": round(proof.elapsed, 2), "words": proof.words()}
    if not proof.ok and proof.steps and not failures(proof) - baseline:
        # What refuses on the shadow refuses on the running instance already: not these
        # files' doing (a broken instance can still be reloaded with a repair).
        out.update(proved=True, warning="mail does not flow on the running instance"
                   f" either, and these files add no new failure: {proof.words()}")
    return out


def wait_settled(controls: Controls, old: Set[int], deadline: float) -> None:
    """After a reload: until the processes that ran the old files have exited (at most
    SETTLE_SECONDS), or the master is gone."""
    end = min(deadline, time.monotonic() + SETTLE_SECONDS)
    while living(old) and time.monotonic() < end:
        if master_pid(controls.pc) is None:
            return
        time.sleep(0.02)


def _live_failures(controls: Controls, wait_listeners: bool, timeout: float) -> Set[str]:
    """What the mail-flows proof refuses on the running instance before the action (so
    that neither the shadow nor the proof after the action blames the new files for it)."""
    if not wait_listeners or not controls.running():
        return set()
    try:
        endpoints, domain = live_endpoints(controls.pc), proof_domain(controls.pc)
    except PostconfError:
        return set()
    proof = prove_mail_flows(endpoints, max(0.5, timeout), domain)
    # A listener that did not answer in time says nothing either way: counted as refusing
    # "as before", it would excuse a listener that hangs after the action.
    proof.steps = [s for s in proof.steps if not TIMED_OUT.search(s.why)]
    return failures(proof)


def _children(pc: Postconf) -> Set[int]:
    pid = master_pid(pc)
    return descendants(pid) if pid is not None else set()


def manage(controls: Controls, state: str, *, check_mode: bool, timeout: float,
           wait_listeners: bool, rollback: bool, shadow: bool = True,
           stamp: Callable[[], str] = lambda: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
           ) -> Dict:
    """Bring the instance to ``state`` and prove it; raise InstanceError on failure.

    The whole run keeps to ``timeout``: with rollback on, the new files get the first
    half, putting last-known-good back the rest."""
    pc = controls.pc
    config_dir = pc.config_dir
    began = time.monotonic()
    deadline = began + timeout
    todo = plan(state, controls.running())
    result: Dict = {"changed": todo.verb is not None, "state": state, "action": todo.verb,
                    "rolled_back": False, "listeners": [],
                    "service_manager": "systemd" if controls.systemctl else "postfix"}
    baseline: Set[str] = set()
    if shadow and todo.verb is not None:
        # Of the one deadline: the proof of the running instance gets at most a third
        # (and 10 s), the shadow half of what is left; the action, its proof and a
        # rollback the rest (both take about a second: these are bounds for hangs).
        baseline = _live_failures(controls, wait_listeners,
                                  min(10.0, (deadline - time.monotonic()) / 3))
        tried = shadow_first(controls, todo, max(1.0, (deadline - time.monotonic()) / 2),
                             baseline)
        if tried is not None:
            result["shadow"] = tried
            if not tried["proved"] and not tried.get("warning"):
                # The master's own words at start-up reach syslog only; the pre-flight
                # check of the files against last-known-good names the line.
                tried["preflight"] = explain(controls)
                if tried["preflight"]:
                    tried["words"] += "; " + "; ".join(tried["preflight"])
                done = ("re" if todo.verb != "start" else "") + (
                    "started" if todo.verb != "reload" else "loaded")
                mend = (f" or put last-known-good back ({lkg_dir(config_dir)})"
                        if has_lkg(config_dir) else "")
                raise InstanceError(
                    f"the files were tried on a shadow of this Postfix instance (a private"
                    f" copy on loopback ports, delivering nothing) and mail does not flow"
                    f" there, so Postfix was not {done} with them: {tried['words']}. They"
                    f" are on disk, though: Postfix processes that start from now on read"
                    f" main.cf without a reload - mend the files{mend}",
                    dict(result, changed=False))
    if check_mode:
        result["msg"] = (f"would run {todo.verb}" if todo.verb else
                         f"nothing to do: Postfix is already {state}")
        return result
    if todo.verb is None and state == "stopped":
        return result
    since = time.time()
    log = log_offset(pc)
    said = ""
    forward_end = (time.monotonic() + (deadline - time.monotonic()) / 2 if rollback
                   else deadline)
    if todo.verb:
        old = _children(pc) if todo.verb == "reload" else set()
        rc, said = controls.action(todo.verb, forward_end)
        if todo.verb == "stop":
            if not controls.wait_stopped(max(0.0, deadline - time.monotonic())):
                raise InstanceError(f"Postfix did not stop within {timeout}s: {said}", result)
            return result
        if rc == 0 and todo.verb == "reload":
            wait_settled(controls, old, forward_end)
    alive, steps, why = prove_alive(controls, max(0.5, forward_end - time.monotonic()),
                                    wait_listeners, log, baseline)
    result["listeners"] = [st.as_dict() for st in steps]
    if alive:
        if todo.loads_files or todo.verb in ("reload", "restart", "start"):
            save_lkg(config_dir)
        result["last_known_good"] = lkg_dir(config_dir) if has_lkg(config_dir) else None
        return result
    fatal = fatal_lines(pc, log, since, said)
    found = explain(controls)
    reason = "; ".join([why] * bool(why) + fatal + found) or "no reason found"
    result.update(preflight=found, fatal=fatal)
    message = f"Postfix did not come up alive after {todo.verb or 'checking'}: {reason}"
    if not rollback:
        raise InstanceError(message + " (rollback: false, nothing was restored)", result)
    roll_back(controls, message, result, stamp(), deadline, wait_listeners)


def roll_back(controls: Controls, message: str, result: Dict, stamp: str, deadline: float,
              wait_listeners: bool) -> NoReturn:
    """Put last-known-good back, stop and start Postfix on it (a stop/start clears the
    master's throttle of a crashed service, which a reload keeps for about 60 s) and
    prove it alive by ``deadline``; always raises InstanceError with ``message`` and what
    the rollback did."""
    config_dir = controls.pc.config_dir
    if not has_lkg(config_dir):
        raise InstanceError(message + " (no last-known-good copy to roll back to yet)",
                            result)
    if same_as_lkg(config_dir):
        raise InstanceError(message + " (the files are the last-known-good copy already;"
                            " the cause is outside main.cf and master.cf)", result)
    kept = set_aside_and_restore(config_dir, stamp)
    result.update(rolled_back=True, rejected_files=kept)
    # A stop or start once begun is let finish (cut short, it would leave a half-started
    # master); the waiting is what keeps to the deadline.
    if controls.running():
        controls.action("stop")
        controls.wait_stopped(max(2.0, deadline - time.monotonic()))
    _rc, again = controls.action("start")
    alive, steps, why_lkg = prove_alive(controls, max(2.0, deadline - time.monotonic()),
                                        wait_listeners)
    result["listeners"] = [st.as_dict() for st in steps]
    if not alive:
        raise InstanceError(message + f"; rolled back to last-known-good, but that did not"
                            f" come up either: {why_lkg} {again}".rstrip(), result)
    save_lkg(config_dir)
    raise InstanceError(message + f"; rolled back: the rejected files are kept as"
                        f" {', '.join(kept)}, Postfix was stopped and started on"
                        " last-known-good and mail flows on its listeners", result)
