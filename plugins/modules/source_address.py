#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: source_address
short_description: The address a server sees when this host connects to it
version_added: 0.1.0
description:
  - Asks the managed host's kernel which source address it uses to reach O(destination),
    by connecting a UDP socket (no packet is sent). Without address translation on the way
    this is the client address the server at O(destination) sees - the one to authorize
    there for XCLIENT.
  - Works on hosts without a default route, where C(ansible_facts.default_ipv4) is missing,
    and on hosts with several addresses, where the default route's address is not always
    the one used to reach the server.
author:
  - mailops.xclient contributors (@mailops)
options:
  destination:
    description: The server's IP address.
    type: str
    required: true
  port:
    description: The server's port (matters only with policy routing by port).
    type: int
    default: 25
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.read_only
seealso:
  - module: mailops.xclient.xclient_hosts
"""

EXAMPLES = r"""
- name: The address the Postfix host sees from this proxy
  mailops.xclient.source_address:
    destination: 198.51.100.10
  register: seen

- name: Authorize it on the Postfix host
  mailops.xclient.xclient_hosts:
    service: 198.51.100.10:10025/inet
    hosts: ["{{ seen.address }}"]
  delegate_to: mx
"""

RETURN = r"""
address:
  description: The source address, normalized.
  returned: success
  type: str
  sample: 198.51.100.11
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._source_address import (
    SourceAddressError,
    source_address,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(destination=dict(type="str", required=True),
                           port=dict(type="int", default=25)),
        supports_check_mode=True,
    )
    try:
        address = source_address(module.params["destination"], module.params["port"])
    except SourceAddressError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, address=address)


if __name__ == "__main__":
    main()
