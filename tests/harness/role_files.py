# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' own files, for the harness: what a private test instance shares with what the
roles deploy is read from the role, not written here a second time.

- ``render_template``: a role template, rendered with jinja2 as Ansible would (the postfix
  role's main.cf.j2 / master.cf.j2 are the base of every private test instance);
- ``selfsigned_certificate``: the nginx_proxy role's self-signed certificate command
  (roles/nginx_proxy/vars/main.yml), run for a test instance.

jinja2 and Ansible's YAML loader are imported where they are used: the harness also runs
under a Python without them (``private_upstream.py stop`` from scripts/demo-stop.sh).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Dict, List

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "roles")
ANSIBLE_MANAGED = "Ansible managed (here: written by the mailops.xclient test harness)"


def render_template(role: str, name: str, **variables: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(ROLES, role, "templates")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.get_template(name).render(ansible_managed=ANSIBLE_MANAGED, **variables)


def role_vars(role: str) -> Dict[str, Any]:
    from ansible.module_utils.common.yaml import yaml_load

    with open(os.path.join(ROLES, role, "vars", "main.yml"), encoding="utf-8") as fh:
        data: Dict[str, Any] = yaml_load(fh)
    return data


def selfsigned_argv(server_name: str, cert_file: str, key_file: str) -> List[str]:
    import jinja2

    values = {"nginx_proxy_server_name": server_name, "nginx_proxy__cert": cert_file,
              "nginx_proxy__key": key_file}
    return [jinja2.Template(str(arg), undefined=jinja2.StrictUndefined).render(**values)
            for arg in role_vars("nginx_proxy")["nginx_proxy__selfsigned_argv"]]


def selfsigned_certificate(server_name: str, cert_file: str, key_file: str) -> None:
    """A self-signed certificate for ``server_name`` and 127.0.0.1, made as the nginx_proxy
    role makes it."""
    subprocess.run(selfsigned_argv(server_name, cert_file, key_file), check=True,
                   capture_output=True)
