# SPDX-License-Identifier: GPL-3.0-or-later
"""An IPv4-only Postfix (inet_protocols = ipv4) answers XCLIENT ADDR=IPV6:... with 501 on
every listener - asked of Postfix itself here - and postfix_info says so: information
by default, an error when the client addresses it is given (probe cases' addr, the
clients a proxy fronts) hold an IPv6 one. The README's IPv6 quick-start case fails
against such a Postfix."""

from __future__ import annotations

from private_postfix import PrivatePostfix, running_instance, smtp_replies
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


class _OneListenerTakesIpv6(PrivatePostfix):
    """main.cf inet_protocols = ipv4; the authorized listener has -o inet_protocols=all."""

    def listeners(self):
        lines = super().listeners()
        at = lines.index(f"127.0.0.1:{self.ports['authorized']} inet n - n - - smtpd")
        return lines[:at + 1] + ["  -o inet_protocols=all"] + lines[at + 1:]


def test_ipv4_only_is_judged_per_listener():
    # asked of Postfix: the listener's own inet_protocols decides what ADDR it parses
    with running_instance("xclient-pf-v4o-", cls=_OneListenerTakesIpv6) as inst:
        assert inst.main_cf()["inet_protocols"] == "ipv4"
        ask = (b"XCLIENT ADDR=IPV6:2001:db8::25",)
        assert smtp_replies(inst.ports["authorized"], ask)[-1][0].startswith("220")
        assert smtp_replies(inst.ports["sasl"], ask)[-1][0].startswith("501 5.5.4")
        result = run_module("postfix_info", {"config_dir": inst.config_dir,
                                             "client_addresses": ["2001:db8::25"]})
        assert not result.get("failed"), result
        found = {f["service"]: f["severity"] for f in result["findings"]
                 if f["code"] == "ipv4-only-xclient"}
        assert f"127.0.0.1:{inst.ports['authorized']}/inet" not in found, found
        assert found[f"127.0.0.1:{inst.ports['sasl']}/inet"] == "error", found
