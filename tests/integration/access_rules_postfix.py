# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Postfix instance (tests/harness/private_postfix.py) whose access rules use
every table type access_cases reads on this host - cidr, hash (a domain, its subdomains by
parent_domain_matches_subdomains, an address, a net prefix), regexp (and pcre where the
host has it), inline - and the built-ins, with ``permit_mynetworks`` placed before a
REJECT entry (192.0.2.200, inside mynetworks: that entry never takes effect) and the sender
rules set only by the authorized listener's ``-o`` override. For the issue 21 tests."""

from __future__ import annotations

import subprocess

from private_postfix import PrivatePostfix

SHADOWED_ADDR = "192.0.2.200"  # REJECT in late.cidr, after permit_mynetworks
HOLDING_ADDR = "192.0.2.50"  # REJECT in late.cidr, outside mynetworks
REGEXP_SAMPLES = {r"/^mx[0-9]+\.bad\.example$/": ["mx7.bad.example", "nomatch.example"]}

CLIENT_HASH = """\
# check_client_access hash: a domain (and its subdomains), an address, a net prefix
blocked.example      REJECT client domain blocked by test policy
ok.example           OK
192.0.2.99           REJECT client 192.0.2.99 blocked by test policy
198.51.100           REJECT net 198.51.100 blocked by test policy
"""

HELO_PATTERNS = """\
# check_helo_access: a literal pattern, one that needs a sample, one nobody can derive
/^spam\\.example$/            REJECT helo spam.example blocked by test policy
/^mx[0-9]+\\.bad\\.example$/  REJECT helo bad mx blocked by test policy
/(foo|bar)\\.example$/        DEFER helo pattern deferred by test policy
"""

LATE_CIDR = f"""\
# after permit_mynetworks: the first entry is inside mynetworks and never takes effect
{SHADOWED_ADDR}/32     REJECT shadowed entry
{HOLDING_ADDR}/32      REJECT late entry that holds
"""

SENDER_OVERRIDE = ("{ smtpd_sender_restrictions = reject_non_fqdn_sender, check_sender_access"
                   " inline:{ {blocked-sender@example.org = REJECT sender blocked by test"
                   " policy}, {dunno@example.org = DUNNO} } }")


def pattern_type() -> str:
    """pcre where this Postfix has it (postfix-pcre), else regexp."""
    types = subprocess.run(["/usr/sbin/postconf", "-m"], capture_output=True, text=True,
                           check=True).stdout.split()
    return "pcre" if "pcre" in types else "regexp"


class AccessRulesPostfix(PrivatePostfix):
    def main_cf(self):
        params = super().main_cf()
        etc = f"{self.base}/etc"
        params.update({
            "mynetworks": "127.0.0.1/32 192.0.2.128/25",
            "smtpd_client_port_logging": "yes",  # the log names each case by its PORT
            "smtpd_client_restrictions": f"check_client_access hash:{etc}/client_access",
            "smtpd_helo_restrictions": ", ".join([
                "reject_invalid_helo_hostname", "reject_non_fqdn_helo_hostname",
                f"check_helo_access {pattern_type()}:{etc}/helo_access"]),
            "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated,"
                                        " reject_unauth_destination",
            "smtpd_recipient_restrictions": ", ".join([
                "reject_non_fqdn_recipient",
                "reject_unknown_reverse_client_hostname",
                f"check_client_access cidr:{etc}/client_access.cidr",
                "reject_unknown_client_hostname",
                "permit_mynetworks",
                f"check_client_access cidr:{etc}/late.cidr",
                "check_policy_service unix:private/policylog",
                "permit"]),
        })
        return params

    def listeners(self):
        lines = super().listeners()
        at = next(i for i, line in enumerate(lines)
                  if line.startswith(f"127.0.0.1:{self.ports['authorized']} "))
        return lines[:at + 1] + [f"  -o {SENDER_OVERRIDE}"] + lines[at + 1:]

    def write_config(self) -> None:
        super().write_config()
        files = {"client_access": CLIENT_HASH, "helo_access": HELO_PATTERNS,
                 "late.cidr": LATE_CIDR}
        for name, text in files.items():
            with open(f"{self.config_dir}/{name}", "w", encoding="utf-8") as fh:
                fh.write(text)
        subprocess.run(["/usr/sbin/postmap", "-c", self.config_dir,
                        f"hash:{self.config_dir}/client_access"], check=True)
