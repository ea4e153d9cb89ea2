# SPDX-License-Identifier: GPL-3.0-or-later
"""An IPv4-only Postfix (inet_protocols = ipv4) answers XCLIENT ADDR=IPV6:... with 501 on
every listener - asked of Postfix itself here - and postfix_info says so: information
by default, an error when the client addresses it is given (probe cases' addr, the
clients a proxy fronts) hold an IPv6 one. The README's IPv6 quick-start case fails
against such a Postfix."""

from __future__ import annotations

from private_postfix import smtp_replies
from run_module import run_module


def test_ipv4_only_postfix_is_reported_when_ipv6_addr_values_will_be_sent(ipv4_only_postfix):
    inst = ipv4_only_postfix
    assert inst.main_cf()["inet_protocols"] == "ipv4"  # ipv6=False
    reply = smtp_replies(inst.ports["authorized"], (b"XCLIENT ADDR=IPV6:2001:db8::25",))[-1]
    assert reply[0].startswith("501 5.5.4 Bad ADDR syntax"), reply
    listener = f"127.0.0.1:{inst.ports['authorized']}"

    def ipv4_only(**args):
        result = run_module("postfix_info", dict(args, config_dir=inst.config_dir))
        assert not result.get("failed"), result
        return {f["service"]: f for f in result["findings"]
                if f["code"] == "ipv4-only-xclient"}

    info = ipv4_only()
    assert info[listener + "/inet"]["severity"] == "info"
    error = ipv4_only(client_addresses=["192.0.2.66", "2001:db8::25"])
    assert error[listener + "/inet"]["severity"] == "error"
    assert "2001:db8::25" in error[listener + "/inet"]["message"]
