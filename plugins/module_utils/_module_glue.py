# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every Postfix module does the same way with its AnsibleModule: the shared option
specs, the error naming an option, the service key, finding the binaries, running
commands as list argv. (The modules that edit the
configuration go on through ``_config_module``.)"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    split_service_key,
)

# Documented by the doc fragment config_dir (DOCUMENTATION and EDIT).
CONFIG_DIR_SPEC: Dict[str, Any] = dict(type="path", default="/etc/postfix")
BACKUP_SPEC: Dict[str, Any] = dict(type="bool", default=False)


class FieldError(ValueError):
    """Bad input; the message starts with the option it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_service(text: str, field: str = "service") -> str:
    """``NAME/TYPE`` (type inet when left out) in canonical form; FieldError naming
    ``field``."""
    try:
        return "/".join(split_service_key(text))
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


def runner(module: Any) -> Callable[[List[str]], Tuple[int, str, str]]:
    def run(argv: List[str]) -> Tuple[int, str, str]:
        return module.run_command(argv, environ_update={"LC_ALL": "C"})
    return run


def postconf_for(module: Any, config_dir: str) -> Postconf:
    """A Postconf for the real config dir; fails the module when Postfix is missing."""
    postconf = module.get_bin_path("postconf", required=True, opt_dirs=["/usr/sbin"])
    postfix = module.get_bin_path("postfix", required=True, opt_dirs=["/usr/sbin"])
    return Postconf(runner(module), config_dir, postconf=postconf, postfix=postfix)
