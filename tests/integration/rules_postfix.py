# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Postfix instance (tests/harness/private_postfix.py) with client, HELO, sender,
recipient and SASL-login rules, the client port in every log line, and one more listener:
``nodelay`` with smtpd_delay_reject=no, where the client rules refuse an identity right at
XCLIENT; ``helocheck`` (smtpd_delay_reject=no, a HELO check in the client rules) and
``broken`` (a misspelled recipient restriction: 451 4.3.5). Used by the issue 11 tests and the property tests against Postfix's log."""

from __future__ import annotations

import os
import shutil
import tempfile

from private_postfix import PrivatePostfix, free_port

BLOCKED_LOGIN = "x+41y@example.org"  # check_sasl_access rejects it, quoting it
BAD_HELO = "bad-helo.example"  # REJECT (in the harness's own rules)
DEFER_HELO = "defer-helo.example"  # DEFER
BAD_SENDER = "blocked-sender@example.org"  # REJECT
BAD_RCPT = "blocked-rcpt@example.net"  # REJECT
DEFER_RCPT = "defer-rcpt@example.net"  # DEFER
DEFER_CLIENT = "203.0.113.46"  # DEFER (the harness's 203.0.113.45 is DEFER_IF_PERMIT)
_DEFER_CLIENT_RULE = (f"check_client_access inline:{{ {{{DEFER_CLIENT} = DEFER client"
                      " deferred by test policy} }")
LOCAL = "postmaster@example.net"  # relay_domains: accepted unless a rule rejects
REMOTE = "someone@elsewhere.example"  # relaying: refused unless mynetworks


class RulesPostfix(PrivatePostfix):
    def main_cf(self):
        params = super().main_cf()
        params["smtpd_client_port_logging"] = "yes"
        params["smtpd_recipient_restrictions"] = " ".join([
            f"check_sasl_access inline:{{ {{{BLOCKED_LOGIN} = REJECT}} }},",
            f"check_sender_access inline:{{ {{{BAD_SENDER} = REJECT sender blocked by test"
            " policy} },",
            f"check_recipient_access inline:{{ {{{BAD_RCPT} = REJECT recipient blocked by"
            f" test policy}}, {{{DEFER_RCPT} = DEFER recipient deferred by test policy}} }},",
            f"check_helo_access inline:{{ {{{DEFER_HELO} = DEFER helo deferred by test"
            " policy} },",
            _DEFER_CLIENT_RULE + ",",
            params["smtpd_recipient_restrictions"]])
        return params

    def listeners(self):
        self.ports.setdefault("nodelay", free_port())
        self.ports.setdefault("helocheck", free_port())
        self.ports.setdefault("broken", free_port())
        authorized = "127.0.0.1" + (" [::1]" if self.ipv6 else "")
        return super().listeners() + [
            # issue 20: a HELO check in the client restrictions, evaluated at XCLIENT
            # (smtpd_delay_reject=no): the identity is applied, then refused with 504
            f"127.0.0.1:{self.ports['helocheck']} inet n - n - - smtpd",
            "  -o syslog_name=postfix/helocheck",
            "  -o smtpd_delay_reject=no",
            "  -o smtpd_client_restrictions=reject_non_fqdn_helo_hostname",
            f"  -o {{ smtpd_authorized_xclient_hosts = {authorized} }}",
            # issue 20: a misspelled restriction - 451 4.3.5 Server configuration error
            # at RCPT while the greeting, EHLO, XCLIENT and MAIL are fine
            f"127.0.0.1:{self.ports['broken']} inet n - n - - smtpd",
            "  -o syslog_name=postfix/broken",
            "  -o smtpd_recipient_restrictions=reject_unauth_destinaton",
            f"  -o {{ smtpd_authorized_xclient_hosts = {authorized} }}",
            f"127.0.0.1:{self.ports['nodelay']} inet n - n - - smtpd",
            "  -o syslog_name=postfix/nodelay",
            "  -o smtpd_delay_reject=no",
            f"  -o {{ smtpd_client_restrictions = {_DEFER_CLIENT_RULE}, check_client_access"
            f" cidr:{self.base}/etc/client_access.cidr }}",
            f"  -o {{ smtpd_helo_restrictions = check_helo_access"
            f" inline:{{ {{{BAD_HELO} = REJECT helo {BAD_HELO} blocked at HELO}} }} }}",
            f"  -o {{ smtpd_sender_restrictions = check_sender_access"
            f" inline:{{ {{{BAD_SENDER} = REJECT sender blocked at MAIL}} }} }}",
            f"  -o {{ smtpd_authorized_xclient_hosts = {authorized} }}",
        ]


def start_rules_postfix() -> RulesPostfix:
    base = tempfile.mkdtemp(prefix="xclient-pf-rules-")
    os.chmod(base, 0o755)
    inst = RulesPostfix(base=base, ipv6=False)
    inst.ports["nodelay"] = free_port()
    return inst.start()


def rules_instance():
    """For a module-scoped fixture: ``yield from rules_instance()``."""
    inst = start_rules_postfix()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)
