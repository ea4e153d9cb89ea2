# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a Postfix configuration means for XCLIENT: facts per smtpd listener, and the
pitfall findings: loopback authorized for IPv4 but not IPv6, XCLIENT authorized beyond
single hosts on a listener reachable from outside, postscreen in front, the XCLIENT keyword
discarded, a LOGIN that Postfix before 3.7.12, 3.8.7, 3.9.1 and 3.10 ignores for
permit_sasl_authenticated unless SASL is on for the listener, smtpd_forbid_unauth_pipelining
(yes by default from 3.10) behind a proxy, permit_sasl_authenticated open to any XCLIENT
LOGIN, and an IPv4-only Postfix (inet_protocols) that refuses IPv6 ADDR values.

``gather`` asks postconf; ``findings`` is a pure function of those facts.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    is_single_host,
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    bind_addresses,
    inet_families,
)

XCLIENT = "smtpd_authorized_xclient_hosts"
XFORWARD = "smtpd_authorized_xforward_hosts"
PER_SERVICE = (XCLIENT, XFORWARD, "smtpd_sasl_auth_enable", "smtpd_tls_auth_only",
               "smtpd_discard_ehlo_keywords", "smtpd_forbid_unauth_pipelining",
               "smtpd_tls_security_level", "smtpd_tls_wrappermode",
               "smtpd_relay_restrictions", "smtpd_recipient_restrictions")
MAIN = PER_SERVICE + ("inet_interfaces", "inet_protocols", "mail_version")


def parse_version(text: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def login_ignored_without_sasl(version: str) -> bool:
    """permit_sasl_authenticated ignores XCLIENT LOGIN unless SASL is on (fixed 3.7.12,
    3.8.7, 3.9.1, 3.10.0; introduced with XCLIENT LOGIN in 2.9)."""
    v = parse_version(version)
    if len(v) < 2:
        return False
    v = v + (0,) * (3 - len(v))
    if v < (3, 7, 0):
        return v >= (2, 9, 0)
    fixed: Dict[Tuple[int, ...], int] = {(3, 7): 12, (3, 8): 7, (3, 9): 1}
    if v[:2] in fixed:
        return v[2] < fixed[v[:2]]
    return False


def login_counts(version: str, sasl_enabled: bool) -> bool:
    """Whether an XCLIENT LOGIN satisfies permit_sasl_authenticated on a listener: from
    2.9 on, except where the bug above applies and SASL is off."""
    v = parse_version(version)
    if len(v) < 2 or v[:2] < (2, 9):
        return False
    return sasl_enabled or not login_ignored_without_sasl(version)


def _yes(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "1", "on")


def listen_addresses(name: str, kind: str, inet_interfaces: str,
                     inet_protocols: str) -> List[str]:
    """The addresses an inet service binds: explicit host, else inet_interfaces."""
    if kind != "inet":
        return []
    host, sep, _port = name.rpartition(":")
    if sep and host:
        return [host[1:-1] if host.startswith("[") else host]
    return bind_addresses(inet_interfaces, inet_protocols, lambda item: [item])


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr in ("localhost",)


def _is_v6(addr: str) -> bool:
    return ":" in addr


def _authorizes(hosts: Sequence[str], address: str) -> bool:
    """Whether a list lets ``address`` through: the first address/network pattern that
    matches decides (``127.0.0.1``, ``127.0.0.1/32``, ``127.0.0.0/8``, ``[::1]/128``)."""
    addr = ipaddress.ip_address(address)
    for pattern in hosts:
        negated = pattern.startswith("!")
        text = pattern[1:] if negated else pattern
        text = re.sub(r"^\[([^\]]+)\]", r"\1", text)
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if net.version == addr.version and addr in net:
            return not negated
    return False


def gather(pc: Postconf) -> Dict[str, Any]:
    """Facts about one config dir: version, main.cf XCLIENT settings, smtpd listeners."""
    main = {name: pc.effective(name) for name in MAIN}
    entries = pc.services()
    postscreen = [e for e in entries if e.command == "postscreen"]
    services = []
    for entry in entries:
        if entry.command not in ("smtpd", "postscreen"):
            continue
        eff = {name: entry.options.get(name, main[name]) for name in PER_SERVICE}
        if entry.type == "pass" and postscreen:
            listen = sum((listen_addresses(p.name, p.type, main["inet_interfaces"],
                                           main["inet_protocols"]) for p in postscreen), [])
        else:
            listen = listen_addresses(entry.name, entry.type, main["inet_interfaces"],
                                      main["inet_protocols"])
        services.append({
            "service": entry.key,
            "name": entry.name,
            "type": entry.type,
            "command": entry.command,
            "listen": listen,
            "xclient_hosts": split_list(eff[XCLIENT]),
            "xclient_hosts_from": "master.cf" if XCLIENT in entry.options else "main.cf",
            "xforward_hosts": split_list(eff[XFORWARD]),
            "sasl_enabled": _yes(eff["smtpd_sasl_auth_enable"]),
            "tls_auth_only": _yes(eff["smtpd_tls_auth_only"]),
            "discard_ehlo_keywords": [k.lower() for k in
                                      split_list(eff["smtpd_discard_ehlo_keywords"])],
            "forbid_unauth_pipelining": _yes(eff["smtpd_forbid_unauth_pipelining"]),
            "relay_permits_sasl": any(
                "permit_sasl_authenticated" in split_list(eff[name])
                for name in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")),
            "fronted_by_postscreen": entry.type == "pass" and bool(postscreen),
            "options": dict(entry.options),
        })
    return {
        "version": main["mail_version"],
        "config_dir": pc.config_dir,
        "main": {
            XCLIENT: split_list(main[XCLIENT]),
            XFORWARD: split_list(main[XFORWARD]),
            "inet_interfaces": main["inet_interfaces"],
            "inet_protocols": main["inet_protocols"],
            "smtpd_sasl_auth_enable": _yes(main["smtpd_sasl_auth_enable"]),
            "smtpd_tls_auth_only": _yes(main["smtpd_tls_auth_only"]),
            "smtpd_discard_ehlo_keywords": main["smtpd_discard_ehlo_keywords"],
            "smtpd_forbid_unauth_pipelining": _yes(main["smtpd_forbid_unauth_pipelining"]),
        },
        "services": services,
    }


def _finding(code: str, severity: str, service: Optional[str], message: str,
             fix: str) -> Dict[str, Any]:
    return {"code": code, "severity": severity, "service": service, "message": message,
            "fix": fix}


Finding = Dict[str, Any]
Listener = Dict[str, Any]  # one entry of gather()["services"]


Check = Callable[[Listener, str, Sequence[str]], Optional[Finding]]


def _when(test: Callable[[Listener], bool], code: str, severity: str, message: str,
          fix: str) -> Check:
    """A pitfall that one setting of the listener shows; ``{key}`` in the message is the
    listener."""
    def check(svc: Listener, version: str, login_expected: Sequence[str]
              ) -> Optional[Finding]:
        key = svc["service"]
        return _finding(code, severity, key, message.format(key=key), fix) \
            if test(svc) else None
    return check


_behind_postscreen = _when(
    lambda svc: svc["fronted_by_postscreen"], "postscreen-no-xclient", "warning",
    "{key} authorizes XCLIENT but sits behind postscreen, which does not speak XCLIENT.",
    "Give the proxy a dedicated smtpd listener (for example"
    " 127.0.0.1:10025 inet ... smtpd) and authorize it there.")
_hidden_keyword = _when(
    lambda svc: "xclient" in svc["discard_ehlo_keywords"], "xclient-hidden-not-disabled",
    "warning",
    "{key} hides the XCLIENT keyword (smtpd_discard_ehlo_keywords) but still"
    " authorizes it: hidden is not disabled, authorized clients can use it.",
    "Remove the hosts that should not use XCLIENT from the list.")
_pipelining = _when(
    lambda svc: svc["forbid_unauth_pipelining"], "forbid-unauth-pipelining-behind-proxy",
    "warning",
    "{key} is fed by an XCLIENT proxy and has smtpd_forbid_unauth_pipelining"
    "=yes: senders that pipeline after XCLIENT get 554 5.5.0 and are disconnected.",
    "Set -o smtpd_forbid_unauth_pipelining=no on the proxy listener.")


def _broad(svc: Listener) -> List[str]:
    return [h for h in svc["xclient_hosts"] if not is_single_host(h)]


def _ipv6_loopback(svc: Listener, version: str, login_expected: Sequence[str]
                   ) -> Optional[Finding]:
    key, hosts, listen = svc["service"], svc["xclient_hosts"], svc["listen"]
    binds_v6 = any(_is_v6(a) for a in listen)
    if not (binds_v6 and _authorizes(hosts, "127.0.0.1") and not _authorizes(hosts, "::1")):
        return None
    return _finding(
        "ipv6-loopback-missing", "warning", key,
        f"{key} listens on IPv6 ({', '.join(a for a in listen if _is_v6(a))}) and"
        " authorizes 127.0.0.1 but not [::1]: a proxy connecting over ::1 gets"
        " 550 5.7.0 Error: insufficient authorization.",
        "Add [::1] to the list (xclient_hosts: hosts: ['::1']).")


def _broad_reachable(svc: Listener, version: str, login_expected: Sequence[str]
                     ) -> Optional[Finding]:
    key, broad = svc["service"], _broad(svc)
    public = [a for a in svc["listen"] if not _is_loopback(a)]
    if not (public and broad):
        return None
    return _finding(
        "broad-xclient-on-reachable-listener", "error", key,
        f"{key} is reachable beyond loopback ({', '.join(public)}) and authorizes"
        f" XCLIENT for more than single hosts ({', '.join(broad)}): any client"
        " there can claim any identity and pass your access rules.",
        "Authorize only the proxy's or filter's exact addresses, on a dedicated"
        " listener.")


def _login_ignored(svc: Listener, version: str, login_expected: Sequence[str]
                   ) -> Optional[Finding]:
    key = svc["service"]
    if not login_ignored_without_sasl(version):
        return None
    if not svc["sasl_enabled"]:
        expected = key in login_expected
        return _finding(
            "login-ignored-without-sasl", "error" if expected else "info", key,
            f"Postfix {version} ignores XCLIENT LOGIN for permit_sasl_authenticated"
            f" unless SASL is enabled on the listener, and {key} has"
            " smtpd_sasl_auth_enable=no" + (" while LOGIN is expected there." if expected
                                            else "."),
            "Enable SASL on that listener (-o smtpd_sasl_auth_enable=yes, and"
            " smtpd_tls_auth_only=no on a plaintext hop), or upgrade to 3.7.12,"
            " 3.8.7, 3.9.1, 3.10 or later.")
    if svc["tls_auth_only"] and key in login_expected:
        return _finding(
            "login-ignored-tls-auth-only", "warning", key,
            f"{key} enables SASL but with smtpd_tls_auth_only=yes; on a plaintext proxy"
            " hop SASL never becomes active, so XCLIENT LOGIN is ignored.",
            "Set -o smtpd_tls_auth_only=no on that listener or use TLS on the hop.")
    return None


def _login_relay(svc: Listener, version: str, login_expected: Sequence[str]
                 ) -> Optional[Finding]:
    key, broad = svc["service"], _broad(svc)
    if not (broad and svc.get("relay_permits_sasl")
            and login_counts(version, svc["sasl_enabled"])):
        return None
    return _finding(
        "login-relay-exposure", "error", key,
        f"On {key} (Postfix {version}) an XCLIENT LOGIN counts as SASL"
        " authentication and the relay restrictions say permit_sasl_authenticated,"
        f" while XCLIENT is authorized for more than single hosts ({', '.join(broad)}):"
        " any host there can relay by claiming a login.",
        "Authorize only the proxies' exact addresses, or drop"
        " permit_sasl_authenticated from that listener's smtpd_relay_restrictions /"
        " smtpd_recipient_restrictions (-o ...).")


# The pitfalls of an smtpd listener that authorizes XCLIENT, in the order reported.
_LISTENER_CHECKS = (_behind_postscreen, _ipv6_loopback, _broad_reachable, _hidden_keyword,
                    _login_ignored, _login_relay, _pipelining)


def _listener_findings(svc: Listener, version: str, login_expected: Sequence[str]
                       ) -> List[Finding]:
    key = svc["service"]
    if svc["command"] == "postscreen":
        if not svc["xclient_hosts"]:
            return []
        return [_finding(
            "postscreen-no-xclient", "warning", key,
            f"{key} is postscreen, which does not speak XCLIENT (it answers 502 5.5.2"
            " after the greeting), yet XCLIENT hosts are authorized for it.",
            "Point the proxy at a dedicated smtpd listener instead of port 25.")]
    if not svc["xclient_hosts"]:
        return []
    found = (check(svc, version, login_expected) for check in _LISTENER_CHECKS)
    return [f for f in found if f is not None]


def _ipv6_addr(value: str) -> bool:
    """An XCLIENT ADDR value (or a client address, network or IPv6 literal) of IPv6."""
    text = re.sub(r"(?i)^ipv6:", "", value.strip()).split("/")[0].strip("[]")
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _ipv4_only(facts: Dict[str, Any], client_addresses: Sequence[str]) -> List[Finding]:
    """inet_protocols without IPv6: smtpd answers XCLIENT ADDR=IPV6:... with 501 5.5.4
    Bad ADDR syntax. Judged per listener: its smtpd parses ADDR with its own
    inet_protocols (a ``-o inet_protocols=...`` in master.cf overrides main.cf's). An
    error when ``client_addresses`` (what probe cases or a proxy will send) holds an IPv6
    address, else info."""
    main = facts.get("main", {}).get("inet_protocols", "all")
    ipv6 = [a for a in client_addresses if _ipv6_addr(a)]
    out = []
    for svc in facts["services"]:
        if svc["command"] != "smtpd" or not svc["xclient_hosts"]:
            continue
        protocols = (svc.get("options") or {}).get("inet_protocols", main)
        if inet_families(protocols)[1]:
            continue
        key = svc["service"]
        out.append(_finding(
            "ipv4-only-xclient", "error" if ipv6 else "info", key,
            f"{key} authorizes XCLIENT, but inet_protocols = {protocols}: Postfix refuses"
            " XCLIENT ADDR=IPV6:... with 501 5.5.4 Bad ADDR syntax, so an IPv6 client"
            " behind a proxy or filter, or a probe case with an IPv6 addr, fails"
            + (f" - and {', '.join(ipv6)} will be sent." if ipv6 else "."),
            ("Set inet_protocols = all (or ipv4, ipv6) in this listener's -o"
             " inet_protocols in master.cf" if "inet_protocols" in (svc.get("options") or {})
             else "Set inet_protocols = all (or ipv4, ipv6) in main.cf")
            + " and restart Postfix, or send only IPv4 client addresses to this Postfix."))
    return out


def findings(facts: Dict[str, Any], login_expected: Sequence[str] = (),
             client_addresses: Sequence[str] = ()) -> List[Finding]:
    """Pitfalls in the facts; severity error, warning or info. ``client_addresses``: the
    addresses probe cases or a proxy will send as XCLIENT ADDR."""
    out: List[Finding] = []
    for svc in facts["services"]:
        out += _listener_findings(svc, facts["version"], login_expected)
    out += _ipv4_only(facts, client_addresses)
    for name in login_expected:
        if not any(s["service"] == name for s in facts["services"]):
            out.append(_finding("login-service-missing", "error", name,
                                f"LOGIN is expected on {name}, but there is no such smtpd"
                                " service in master.cf.", "Check the service name."))
    return out
