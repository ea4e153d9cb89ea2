# SPDX-License-Identifier: GPL-3.0-or-later
"""Test setup: import the collection as ``ansible_collections.mailops.xclient`` from this
source tree (scripts/source-link.sh), give tests a private Postfix instance, and an
installed build of the collection for the tests that run Ansible."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

import collection  # noqa: E402

collection.source_collections(on_sys_path=True)

import shutil  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests (Hypothesis) draw the same examples on every run of `make test`, so that a
# run that passed on one machine passes on the next and a failure is reproducible; the
# examples a test must always try are given with @example. To look for new failures, draw
# at random: MAILOPS_XCLIENT_EXPLORE=1 (with a test's own *_EXAMPLES count raised).
_PROPERTY_SETTINGS = {"database": None, "deadline": None,
                      "suppress_health_check": list(HealthCheck)}
settings.register_profile("mailops-ci", derandomize=True, **_PROPERTY_SETTINGS)
settings.register_profile("mailops-explore", derandomize=False, **_PROPERTY_SETTINGS)
settings.load_profile("mailops-explore" if os.environ.get("MAILOPS_XCLIENT_EXPLORE") == "1"
                      else "mailops-ci")

from private_postfix import PrivatePostfix, running_instance  # noqa: E402


def _private_instance(prefix: str) -> Iterator[PrivatePostfix]:
    if shutil.which("postfix") is None and not os.path.exists("/usr/sbin/postfix"):
        pytest.fail("Postfix is not installed: run scripts/install-deps.sh (make test does)")
    with running_instance(prefix, ipv6=True) as inst:
        yield inst


@pytest.fixture(scope="session")
def postfix_instance():
    """A private Postfix instance on loopback ports for the whole test session."""
    yield from _private_instance("xclient-pf-")


@pytest.fixture(scope="session")
def ipv4_only_postfix():
    """A private instance with inet_protocols = ipv4 (XCLIENT ADDR=IPV6:... gets 501), for
    the whole session. tests/integration/test_return_documented.py runs every module on it
    (harmless edits: in_flow_delay, one more XCLIENT host)."""
    with running_instance("xclient-pf-v4-") as inst:
        yield inst


@pytest.fixture
def fresh_postfix():
    """A private instance of its own, for tests that change its configuration."""
    yield from _private_instance("xclient-pf-own-")


@pytest.fixture(scope="module")
def rules_postfix():
    """A private instance with a rule at every SMTP stage (tests/integration/rules_postfix.py),
    one per test module."""
    from rules_postfix import rules_instance
    yield from rules_instance()


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    """The collection built from this tree and installed (scripts/collection.sh install):
    the collections path to give Ansible."""
    return collection.install(str(tmp_path_factory.mktemp("galaxy")))
