# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every Postfix configuration module does the same way with its AnsibleModule:
find the binaries, run commands as list argv, edit the config safely, report the diff."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    PostconfError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    EditResult,
    edit_config,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (
    seed_lkg,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Locator,
    PreflightError,
    describe,
    generic_field,
    preflight,
)

CONFIG_DIR_SPEC = dict(type="path", default="/etc/postfix")
BACKUP_SPEC = dict(type="bool", default=False)
ALLOW_UNBOUND_SPEC = dict(type="bool", default=False)


def runner(module) -> Callable[[List[str]], Tuple[int, str, str]]:
    def run(argv: List[str]) -> Tuple[int, str, str]:
        return module.run_command(argv, environ_update={"LC_ALL": "C"})
    return run


def postconf_for(module, config_dir: str) -> Postconf:
    """A Postconf for the real config dir; fails the module when Postfix is missing."""
    postconf = module.get_bin_path("postconf", required=True, opt_dirs=["/usr/sbin"])
    postfix = module.get_bin_path("postfix", required=True, opt_dirs=["/usr/sbin"])
    return Postconf(runner(module), config_dir, postconf=postconf, postfix=postfix)


def apply_edit(module, real: Postconf, edit: Callable[[Postconf], None], backup: bool,
               field: Optional[Callable[[Locator], Optional[str]]] = None,
               allow_unbound: bool = False) -> EditResult:
    """The safe edit with the pre-flight check; ``field`` names a problem's field in the
    module's own terms (None: the generic master.cf / main.cf wording)."""
    postmap = module.get_bin_path("postmap", required=True, opt_dirs=["/usr/sbin"])

    def check(live: Postconf, work: Postconf) -> None:
        try:
            problems = preflight(live, work, postmap, allow_unbound=allow_unbound)
        except PostconfError:
            # postconf cannot read the edited copy: postfix check says why, and the files
            # are put back (edit_config).
            return
        if problems:
            raise PreflightError(problems, describe(
                problems, lambda loc: (field(loc) if field else None) or generic_field(loc))
                + " (nothing was written)")

    return edit_config(real, edit, check_mode=module.check_mode,
                       atomic_move=module.atomic_move,
                       backup=module.backup_local if backup else None, preflight=check,
                       before_write=seed_lkg)


def edit_outcome(module, result: EditResult) -> Dict:
    out: Dict = {"changed": result.changed}
    if module._diff and result.diff:
        out["diff"] = result.diff
    if result.backups:
        out["backup_file"] = result.backups
    return out
