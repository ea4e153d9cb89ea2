# SPDX-License-Identifier: GPL-3.0-or-later
"""The module as users run it: ansible-playbook against localhost, from an installed build
of the collection (ansible-galaxy collection build + install), not from the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from private_postfix import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("galaxy")
    subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path",
                    str(out), ROOT], check=True, capture_output=True)
    (tarball,) = [p for p in out.iterdir() if p.name.endswith(".tar.gz")]
    dest = out / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", "--force", "-p", str(dest),
                    str(tarball)], check=True, capture_output=True)
    assert (dest / "ansible_collections/mailops/xclient/plugins/modules/xclient_probe.py")\
        .exists()
    return str(dest)


def ansible_env(collections):
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.pop("PYTHONPATH", None)
    return env


def test_ansible_doc_renders_from_installed_build(installed_collection):
    done = subprocess.run(["ansible-doc", "mailops.xclient.xclient_probe"],
                          env=ansible_env(installed_collection), capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert installed_collection in done.stdout  # loaded from the installed copy
    assert "fail_on_mismatch" in done.stdout and "concurrency" in done.stdout


def test_probe_playbook(installed_collection, postfix_instance):
    extra = {"authorized_port": postfix_instance.ports["authorized"],
             "unauthorized_port": postfix_instance.ports["unauthorized"],
             "closed_port": free_port()}
    done = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local",
         os.path.join(HERE, "playbooks", "probe_module.yml"), "-e", json.dumps(extra)],
        env=ansible_env(installed_collection), capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout
    assert "ignored=2" in done.stdout  # the two deliberate failures, asserted on in the play
