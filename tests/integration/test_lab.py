# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The many-hosts lab: `make lab-test` (3 client hosts, ssh and paramiko, faults) passes,
its last line is the JSON the README documents, mx's log copy shows every client's own
address, and nothing of the lab is left. The lab refuses to start on a taken bridge name."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from ansible import __version__ as ansible_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
import lab  # noqa: E402


def test_lab_refuses_a_bridge_name_in_use():
    assert os.geteuid() == 0, "the lab needs root (network namespaces)"
    subprocess.run(["ip", "link", "add", lab.BRIDGE, "type", "bridge"], check=True)
    try:
        done = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "lab", "lab.py"), "up"],
                              capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"bridge name {lab.BRIDGE} is in use" in done.stderr
        assert "Traceback" not in done.stderr
        assert lab.lab_namespaces() == []
        assert not os.path.exists(os.path.join(lab.BASE, "state.json"))
    finally:
        subprocess.run(["ip", "link", "del", lab.BRIDGE], check=False)


@pytest.mark.parametrize("setup, reason", [
    ("ip addr add 198.51.100.7/32 dev lo", "address 198.51.100.7 is already on lo"),
    ("ip route add 198.51.100.128/25 dev lo", "route 198.51.100.128/25 dev lo overlaps 198.51.100.0/24"),
])
def test_lab_refuses_its_addresses_in_use(setup, reason):
    """In a throwaway network namespace (unshare -n) that already uses the lab's range."""
    script = f"ip link set lo up && {setup} && exec {sys.executable} {ROOT}/tests/lab/lab.py up"
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert reason in done.stderr
    assert lab.lab_namespaces() == []
    assert not os.path.exists(os.path.join(lab.BASE, "state.json"))


def test_lab_stop_cleans_a_lab_killed_halfway():
    up = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "lab", "lab.py"), "up",
                           "--hosts", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(lab.lab_namespaces()) < 3 and time.monotonic() < deadline and up.poll() is None:
            time.sleep(0.01)
        assert up.poll() is None, "lab up finished before it could be killed"
        up.send_signal(signal.SIGKILL)
        up.wait()
        assert lab.lab_namespaces(), "the kill left nothing: the test proves nothing"
    finally:
        done = subprocess.run(["make", "-s", "-C", ROOT, "lab-stop"], capture_output=True,
                              text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lab.lab_namespaces() == []
    assert lab.lab_links() == []
    assert not lab.link_exists(lab.BRIDGE)
    assert not os.path.exists(lab.BASE)
    pids = subprocess.run(["pgrep", "-f", lab.BASE], capture_output=True, text=True, check=False)
    assert pids.stdout.strip() == "", f"lab processes left: {pids.stdout}"


def test_make_lab_test_default_hosts():
    done = subprocess.run(["make", "-s", "-C", ROOT, "lab-test"], capture_output=True, text=True,
                          check=False, timeout=1500)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["hosts"] == 3
    # The paramiko connection exists up to ansible-core 2.20 and is gone in 2.21.
    core = tuple(int(x) for x in ansible_version.split(".")[:2])
    paramiko = "passed" if core < (2, 21) else f"unavailable: ansible-core {ansible_version} has no paramiko connection"
    assert result["connections"] == {"ssh": "passed", "paramiko": paramiko}
    addrs = result["client_addresses"]
    assert addrs == [lab.client_address(k) for k in (1, 2, 3)]
    net = ipaddress.ip_network("198.51.100.0/24")
    assert all(ipaddress.ip_address(a) in net for a in addrs)
    rejected = result["rejected_address"]
    assert rejected == lab.client_address(1)
    assert set(result["seconds"]) == {"lab_up", "ssh", "paramiko" if core < (2, 21) else "ssh_rerun",
                                      "faults", "lab_down", "total"}
    with open(result["mx_maillog"], encoding="utf-8") as fh:
        log = fh.read()
    for addr in addrs:
        esc = re.escape(addr)
        if addr == rejected:
            assert re.search(rf"reject: RCPT from [^ ]*\[{esc}\]: 554 5\.7\.1 .*blocked by the lab policy", log)
            assert not re.search(rf"X-Lab-Probe: .* from [^ ]*\[{esc}\]", log)
        else:
            for route in ("edge1", "edge2", "filter"):
                assert re.search(rf"X-Lab-Probe: client\d+ via {route} from [^ ]*\[{esc}\]", log), (addr, route)
    assert lab.lab_namespaces() == []
    assert not lab.link_exists(lab.BRIDGE)
    assert not os.path.exists(lab.BASE)
