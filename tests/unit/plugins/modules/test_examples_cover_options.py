# SPDX-License-Identifier: GPL-3.0-or-later
"""Every option of every module belongs to a group here, and every group is shown by at
least one task in that module's EXAMPLES or in README.md (the examples a newcomer reads;
tests/integration/test_examples_run.py runs them all). A new option must be put in a group,
and a new group needs an example."""

from __future__ import annotations

import importlib
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                 if f.endswith(".py") and not f.startswith("_"))
FILES = {"config_dir", "backup", "shadow"}
GROUPS = {
    "postconf": {"one parameter": {"name", "value", "state", "service", "allow_broad"},
                 "several at once": {"settings"}, "files": FILES},
    "postfix_info": {"audit": {"login_expected", "client_addresses", "fail_on"},
                     "files": {"config_dir"}},
    "postfix_instance": {"state": {"state", "timeout"},
                         "proof and rollback": {"wait_listeners", "rollback", "shadow"},
                         "service manager": {"service_manager"}, "files": {"config_dir"}},
    "postfix_service": {"entry": {"name", "type", "command", "private", "unprivileged",
                                  "chroot", "wakeup", "maxproc"},
                        "options": {"options", "purge_options", "allow_broad"},
                        "removal": {"state", "allow_unbound", "force"}, "files": FILES},
    "source_address": {"destination": {"destination", "port"}},
    "xclient_hosts": {"where": {"service", "kind"}, "who": {"hosts", "state"},
                      "broad patterns": {"allow_broad"}, "files": FILES},
    "xclient_inject": {"message": {"path"},
                       "listener": {"server", "port", "source_address", "helo", "timeout"},
                       "identity": {"received_by", "internal_networks", "unparsed"},
                       "envelope": {"sender", "rcpt_to"},
                       "afterwards": {"remove_injected", "fail_on_rejected", "lock_timeout"}},
    "xclient_probe": {"server": {"server", "port"},
                      "tls": {"tls", "validate_certs", "ca_file", "server_name"},
                      "session": {"helo", "source_address", "timeout", "concurrency"},
                      "cases": {"cases"}, "results": {"fail_on_mismatch", "transcript"},
                      "baseline": {"baseline", "baseline_update"}},
    "access_cases": {"listener": {"service", "config_dir"}, "patterns": {"samples"},
                     "envelope": {"mail_from", "rcpt_to"}},
    "postfix_whatif": {"change": {"change", "config_dir"},
                       "cases": {"cases", "derive", "service", "timeout"},
                       "gate": {"expect_changes"}},
}


def options(module):
    mod = importlib.import_module(f"ansible_collections.mailops.xclient.plugins.modules.{module}")
    doc = yaml.safe_load(mod.DOCUMENTATION)
    found = set(doc.get("options", {}))
    for frag in doc.get("extends_documentation_fragment", []):
        parts = frag.split(".")
        fm = importlib.import_module(
            f"ansible_collections.mailops.xclient.plugins.doc_fragments.{parts[2]}")
        text = getattr(fm.ModuleDocFragment, parts[3].upper() if len(parts) > 3
                       else "DOCUMENTATION")
        found |= set((yaml.safe_load(text) or {}).get("options", {}))
    return mod, found


def tasks(block):
    """The tasks of a YAML block: a task list, a playbook's plays, a role's blocks."""
    if isinstance(block, dict):
        block = [block]
    for item in block if isinstance(block, list) else []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue",
                    "always"):
            yield from tasks(item.get(key))


def shown(module, examples):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    used = set()
    for block in [yaml.safe_load(examples)] + blocks:
        for task in tasks(block):
            args = task.get(f"mailops.xclient.{module}")
            if isinstance(args, dict):
                used |= set(args)
    return used


@pytest.mark.parametrize("module", MODULES)
def test_every_option_group_has_an_example(module):
    mod, opts = options(module)
    groups = GROUPS[module]
    assert set().union(*groups.values()) == opts, "put each option in one group"
    used = shown(module, mod.EXAMPLES)
    assert [g for g, members in groups.items() if not members & used] == [], module
