# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The many-hosts lab: Linux network namespaces on one bridge, each "host" with its own
TEST-NET address (198.51.100.0/24) and its own sshd (Debian's openssh-server, own host key,
own config, listening only on that address, root login with the lab key).

    python3 tests/lab/lab.py up [--hosts N]   # prints the inventory path last
    python3 tests/lab/lab.py down             # removes everything the lab made

Hosts: mx (Postfix), edge1 and edge2 (nginx proxies), filter (proxsmtp), client1..N. The
control node is the root namespace (198.51.100.1 on the bridge). All hosts share the
machine's filesystem: every host gets its own directory under the lab base for its
Postfix, nginx and proxsmtp files and for Ansible's remote temporary files.

`down` does not trust the state file alone: it removes every namespace named xclab-*,
killing every process inside it, the bridge xclab0 and the lab base, so a crash halfway
through `up` leaves nothing it cannot clean. The machine's own interfaces, routes, sshd,
Postfix and nginx are never touched; `up` refuses to start if the lab's addresses, bridge
or namespaces are already in use.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List

BASE = os.environ.get("MAILOPS_LAB_BASE", "/var/tmp/mailops-xclient-lab")
NETWORK = ipaddress.ip_network("198.51.100.0/24")  # TEST-NET-2 (RFC 5737) only
CONTROL = "198.51.100.1"
BRIDGE = "xclab0"
NS_PREFIX = "xclab-"
VETH_PREFIX = "xcl-"
SERVERS = {"mx": "198.51.100.10", "edge1": "198.51.100.11", "edge2": "198.51.100.12",
           "filter": "198.51.100.13"}
MAX_CLIENTS = 150
# The managed hosts' Python: the distribution's, else the control node's own.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PRIVSEP_DIR = "/run/sshd"  # compiled into Debian's sshd
PRIVSEP_MARK = os.path.join(BASE + ".privsep-created")


class LabError(Exception):
    pass


def run(argv: List[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done


def client_address(k: int) -> str:
    return str(NETWORK.network_address + 100 + k)


def hosts(n_clients: int) -> Dict[str, str]:
    out = dict(SERVERS)
    out.update({f"client{k}": client_address(k) for k in range(1, n_clients + 1)})
    return out


def lab_namespaces() -> List[str]:
    done = run(["ip", "-j", "netns", "list"], check=False)
    names = [e["name"] for e in json.loads(done.stdout or "[]")]
    return [n for n in names if n.startswith(NS_PREFIX)]


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def lab_links() -> List[str]:
    links = json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]")
    return [l["ifname"] for l in links if l["ifname"].startswith(VETH_PREFIX)]


def preflight() -> None:
    """Refuse, with the reason, anything that would make the lab touch what is not its own."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces, sshd)")
    if link_exists(BRIDGE):
        problems.append(f"bridge name {BRIDGE} is in use")
    for ns in lab_namespaces():
        problems.append(f"network namespace {ns} exists")
    for link in lab_links():
        problems.append(f"interface {link} exists")
    addrs = json.loads(run(["ip", "-j", "addr", "show"]).stdout or "[]")
    for link in addrs:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet" and ipaddress.ip_address(a["local"]) in NETWORK:
                problems.append(f"address {a['local']} is already on {link['ifname']}")
    routes = json.loads(run(["ip", "-j", "route", "show"]).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "default")
        if dst != "default" and ipaddress.ip_network(dst, strict=False).overlaps(NETWORK):
            problems.append(f"route {dst} dev {r.get('dev')} overlaps {NETWORK}")
    if os.path.exists(os.path.join(BASE, "state.json")):
        problems.append(f"{BASE} holds a lab")
    if problems:
        raise LabError("refusing to start the lab: " + "; ".join(problems)
                       + (" (run `make lab-stop` if it is a previous lab)" if os.geteuid() == 0 else ""))


def sshd_config(name: str, addr: str, hdir: str) -> str:
    return f"""# sshd of lab host {name}: only {addr}, only root with the lab key.
ListenAddress {addr}:22
HostKey {hdir}/ssh/ssh_host_ed25519_key
PidFile {hdir}/ssh/sshd.pid
AuthorizedKeysFile {BASE}/lab_key.pub
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def wait_port(addr: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=1):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise LabError(f"sshd on {addr}:{port} did not come up: {exc}") from exc
            time.sleep(0.05)


def write(path: str, text: str, mode: int = 0o644) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)


def inventory(hmap: Dict[str, str]) -> str:
    def block(names: List[str]) -> str:
        return "".join(
            f"        {h}:\n          ansible_host: {hmap[h]}\n          lab_address: {hmap[h]}\n"
            f"          lab_dir: {BASE}/hosts/{h}\n          ansible_remote_tmp: {BASE}/hosts/{h}/tmp\n"
            for h in names)
    clients = [h for h in hmap if h.startswith("client")]
    return f"""# Generated by tests/lab/lab.py: the lab's hosts. Role wiring: playbooks/lab_scenario.yml.
all:
  vars:
    ansible_user: root
    ansible_private_key_file: {BASE}/lab_key
    ansible_python_interpreter: {PYTHON}
    ansible_ssh_common_args: -o UserKnownHostsFile={BASE}/known_hosts -o StrictHostKeyChecking=yes
    # paramiko reads known_hosts only from ~/.ssh and /etc/ssh, which the lab leaves alone.
    ansible_paramiko_host_key_checking: false
    lab_base: {BASE}
    lab_control_address: {CONTROL}
  children:
    mta:
      hosts:
{block(['mx'])}    edges:
      hosts:
{block(['edge1', 'edge2'])}    filters:
      hosts:
{block(['filter'])}    clients:
      hosts:
{block(clients)}"""


def up(n_clients: int) -> str:
    if not 1 <= n_clients <= MAX_CLIENTS:
        raise LabError(f"--hosts: {n_clients} is not between 1 and {MAX_CLIENTS}")
    preflight()
    try:
        return _build(hosts(n_clients), n_clients)
    except BaseException:
        down()  # our own half-built lab (preflight passed): nobody else's addresses
        raise


def _build(hmap: Dict[str, str], n_clients: int) -> str:
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o755)
    state = {"hosts": hmap, "clients": n_clients, "bridge": BRIDGE, "started": time.time()}
    write(os.path.join(BASE, "state.json"), json.dumps(state, indent=1))
    if not os.path.isdir(PRIVSEP_DIR):
        os.makedirs(PRIVSEP_DIR, mode=0o755)
        write(PRIVSEP_MARK, "created by the mailops.xclient lab\n")
    key = os.path.join(BASE, "lab_key")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailops-xclient-lab", "-f", key])
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{CONTROL}/{NETWORK.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    known = []
    for name, addr in hmap.items():
        ns, veth, hdir = NS_PREFIX + name, VETH_PREFIX + name, os.path.join(BASE, "hosts", name)
        for sub in ("ssh", "tmp"):
            os.makedirs(os.path.join(hdir, sub), exist_ok=True)
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{addr}/{NETWORK.prefixlen}", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        hostkey = os.path.join(hdir, "ssh", "ssh_host_ed25519_key")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{name}", "-f", hostkey])
        with open(hostkey + ".pub", encoding="utf-8") as fh:
            known.append(f"{addr} {' '.join(fh.read().split()[:2])}\n")
        cfg = os.path.join(hdir, "ssh", "sshd_config")
        write(cfg, sshd_config(name, addr, hdir))
        run(["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", cfg,
             "-E", os.path.join(hdir, "ssh", "sshd.log")])
    write(os.path.join(BASE, "known_hosts"), "".join(known))
    for addr in hmap.values():
        wait_port(addr, 22)
    path = os.path.join(BASE, "inventory.yml")
    write(path, inventory(hmap))
    return path


def down() -> List[str]:
    """Remove the lab, whatever state it is in. Returns what was removed."""
    done = []
    namespaces = lab_namespaces()
    for sig in (signal.SIGTERM, signal.SIGKILL):  # every namespace at once, then wait
        pids = [int(p) for ns in namespaces
                for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
            time.sleep(0.05)
        if not pids:
            break
    for ns in namespaces:
        run(["ip", "netns", "del", ns], check=False)
        done.append(f"namespace {ns}")
    # Deleting a namespace removes its veth ends asynchronously: delete what is left and
    # wait, so that a new lab can reuse the names at once.
    deadline = time.monotonic() + 10
    while lab_links() and time.monotonic() < deadline:
        for link in lab_links():
            run(["ip", "link", "del", link], check=False)
        time.sleep(0.1)
    if link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE], check=False)
        done.append(f"bridge {BRIDGE}")
    if os.path.isdir(BASE):
        shutil.rmtree(BASE, ignore_errors=True)
        done.append(BASE)
    if os.path.exists(PRIVSEP_MARK):
        try:
            os.rmdir(PRIVSEP_DIR)
            done.append(PRIVSEP_DIR)
        except OSError:
            pass  # not empty or in use now: it is someone else's
        os.remove(PRIVSEP_MARK)
    return done


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--hosts", type=int, default=3, help="client hosts (default 3)")
    sub.add_parser("down")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            print(up(args.hosts))
        else:
            for what in down():
                print(f"removed {what}")
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
