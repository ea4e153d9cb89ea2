# SPDX-License-Identifier: GPL-3.0-or-later
"""The Postfix configuration modules on a real private Postfix instance: the hazards
(concurrent writers, kill -9 in the middle of an edit).

Their behaviour - check mode, real run, idempotence, results, diffs, bad input, findings -
is tested by the ansible-test integration targets in tests/integration/targets (postconf,
postfix_service, xclient_hosts, postfix_info; scripts/integration-targets.sh)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from private_postfix import PrivatePostfix
from run_module import module_command, run_module


@pytest.fixture
def config_only(tmp_path_factory):
    """A private instance's config, not started: for tests that only read or write it."""
    base = str(tmp_path_factory.mktemp("cfg"))
    os.chmod(base, 0o755)
    inst = PrivatePostfix(base=base, tls=False, ipv6=True,
                          ports={"authorized": 10025, "unauthorized": 10026, "sasl": 10027})
    inst.write_config()
    return inst


# ---------------------------------------------------------------------- concurrency, kill -9

def test_concurrent_writers_lose_no_update(config_only):
    d = config_only.config_dir
    hosts = [f"192.0.2.{i}" for i in range(1, 9)]
    # The lock is what is tested: without the shadow each run is quick, so the eight
    # really wait for each other (the shadow proof is tested in test_shadow_hazards.py).
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda h: run_module("xclient_hosts", {
            "hosts": [h], "config_dir": d, "shadow": False}), hosts))
    assert all(r.get("changed") for r in results), results
    final = subprocess.run(["postconf", "-c", d, "-h", "smtpd_authorized_xclient_hosts"],
                           capture_output=True, text=True, check=True).stdout
    assert sorted(final.replace(",", " ").split()) == sorted(hosts)


def test_kill_9_in_the_middle_leaves_valid_files(config_only):
    d = config_only.config_dir
    original = open(os.path.join(d, "main.cf"), "rb").read()
    killed = 0
    for attempt in range(12):
        value = f"{attempt + 1}s"
        argv, env, path = module_command("postconf", {"name": "in_flow_delay", "value": value,
                                                      "config_dir": d})
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.05 + 0.03 * attempt)  # land at different points of the run
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        os.unlink(path)
        text = open(os.path.join(d, "main.cf"), "rb").read()
        assert text.startswith(original.split(b"in_flow_delay")[0])
        check = subprocess.run(["postconf", "-c", d, "-h", "in_flow_delay"],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0 and check.stdout.strip().endswith("s") or \
            check.stdout.strip() == "0", check
    assert killed >= 3
    # the next run cleans up what killed runs left and works
    result = run_module("postconf", {"name": "in_flow_delay", "value": "0",
                                     "config_dir": d})
    assert not result.get("failed"), result
    assert not [f for f in os.listdir(d) if f.startswith(".mailops-xclient-work-")]
