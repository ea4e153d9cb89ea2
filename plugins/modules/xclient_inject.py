#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xclient_inject
short_description: Inject stored messages into Postfix as their original client, using XCLIENT
version_added: 0.1.0
description:
  - Injects one message file, or every message of a Maildir, into a Postfix listener over
    SMTP. Before C(MAIL FROM) it sends C(XCLIENT) with the client address, name, HELO and
    protocol that the upstream MX recorded in its C(Received) header, so Postfix applies
    its access rules to, and logs, that client. This is the same code as the
    C(xclient-inject) command of the C(mailops.xclient.fetch_inject) role.
  - Use it to re-inject the quarantine of C(xclient-inject) after changing a rule. The
    envelope comes from O(sender) and O(rcpt_to), else from the C(X-Xclient-Inject-Envelope-*)
    headers the quarantine wrote (they are taken off again), else the sender from
    C(Return-Path).
  - Which header is trusted - the C(Received) headers are read from the top; headers whose
    client is internal (loopback, C(::1), O(internal_networks)) are the upstream's own hops
    and are skipped. The first header with an external client must be one the upstream MX
    wrote (its C(by) host matches O(received_by) as a whole), else the message is not
    injected (O(unparsed)); a lower header, which the sender can write, is never used.
  - That header is read with the grammar of the MTA that wrote it (Postfix, Sendmail, Exim,
    Exchange, qmail, CommuniGate, ecelerity, ZMailer, GMX, and the common
    C(from HELO (NAME [ADDR]\) by) form of others), and only when every way of reading it
    gives the same client; the sender controls the HELO and the C(for) part and cannot
    choose the address or name. A name the MTA did not verify is sent as C([UNAVAILABLE]).
  - A message file is removed (O(remove_injected)) only when Postfix accepted every
    recipient, so running the task again does not inject it twice. When Postfix accepts
    some recipients and refuses others (outcome C(partial)), the file is rewritten, in
    place and atomically, for the refused recipients alone, with one
    C(X-Xclient-Inject-Rejected) line per recipient giving Postfix's reply; their only copy
    is kept, and a later run sends it to them alone.
  - Only regular files with a single link are read, opened without following symbolic
    links, relative to the Maildir's own C(new/) and C(cur/) (which must be directories,
    not links). A symbolic link, hard link, fifo or device in the Maildir gets the outcome
    C(error) and is never read or sent - the quarantine is written by the fetch user, and a
    link planted there must not make a privileged run mail a secret file.
  - One run at a time per Maildir - the module holds an exclusive lock
    (C(.xclient-inject.lock) in the Maildir, C(flock)) while it lists, injects and removes
    the messages; a second run waits up to O(lock_timeout) seconds, then sees only what
    is left. Two runs never inject the same message.
  - The envelope (O(sender), the recipients) must be RFC 5321 addresses; quoted local
    parts such as C("a b"@example.com) are sent as they are. A message whose envelope
    (from the quarantine headers or C(Return-Path)) is not - for instance C(Return-Path)
    with C(RET=FULL ENVID=...) after the address - is not sent; outcome C(rejected), stage
    C(envelope), and the file stays.
  - The module does not bound retries - it runs when you run it; the bounds on retries
    (C(--max-attempts), C(--max-age)) are the C(xclient-inject) command's, whose fetcher
    would otherwise retry for ever.
  - In check mode nothing is sent and nothing removed; each message's result shows the
    identity that would be used. Check mode cannot know Postfix's verdict without sending,
    so it reports C(changed) when there is at least one message the real run would send
    (one with an identity and recipients), as if Postfix would accept it.
author:
  - mailops.xclient contributors (@mailops)
attributes:
  check_mode:
    support: full
    details: Nothing is sent and nothing removed; each message's result shows the identity
      that would be used. C(changed) is true when at least one message would be sent;
      without sending, the module cannot know whether Postfix would accept it, so it
      predicts that every message it would try is accepted (and removed).
  diff_mode:
    details: Sends messages and removes files; there is no diff.
options:
  path:
    description: A message file (RFC 5322) or a Maildir (with C(new/) and C(cur/)).
    type: path
    required: true
  server:
    description:
      - Address of the Postfix injection listener.
      - The default, with O(port)'s, is the injection listener the
        C(mailops.xclient.fetch_inject) role makes (C(fetch_inject_listener_address),
        C(fetch_inject_listener_port)), whose quarantine this module re-injects.
    type: str
    default: 127.0.0.1
  port:
    description:
      - Its port. This host must be in its C(smtpd_authorized_xclient_hosts).
      - The default is the C(mailops.xclient.fetch_inject) role's injection listener
        port; port 25 rarely lets anyone but the proxy send XCLIENT.
    type: int
    default: 10027
  timeout:
    description: Seconds for each message's SMTP session.
    type: float
    default: 60
  helo:
    description: Own name for the first C(EHLO) (before C(XCLIENT)); default the host name.
    type: str
  source_address:
    description: Local address to connect from.
    type: str
  received_by:
    description:
      - Python regular expression for the upstream MX's host name in the C(by) part of its
        C(Received) header (whole name, case-insensitive).
      - Without it the first header with an external client is trusted whoever wrote it;
        right only for a mailbox the MX delivers into straight. Set it.
    type: str
  internal_networks:
    description:
      - Networks (CIDR, or single addresses) of the upstream's own hosts, such as a content
        filter on another host that re-injects into the MX. Headers whose client is in them
        are skipped, like loopback ones (always skipped).
    type: list
    elements: str
    default: []
  unparsed:
    description:
      - When no header can be trusted (the first external one is not the MX's, or does not
        read one way) - V(tempfail) leaves the message where it is (outcome C(deferred));
        V(unavailable) injects it with C(ADDR=[UNAVAILABLE]).
    type: str
    choices: [tempfail, unavailable]
    default: tempfail
  sender:
    description: Envelope sender for every message (empty for the null sender).
    type: str
  rcpt_to:
    description: Envelope recipients for every message.
    type: list
    elements: str
  remove_injected:
    description: Remove each message file that Postfix accepted for every recipient, and
      rewrite it for the refused recipients alone after a partial delivery.
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for another run holding the Maildir's lock before failing.
    type: float
    default: 600
  fail_on_rejected:
    description: Fail the task when a message is not accepted (rejected, deferred or an error).
    type: bool
    default: true
notes:
  - "Exit status of the C(xclient-inject) command (the fetchers' MDA; the module itself
    reports per-message outcomes instead) - C(0) delivered to every recipient, or refused
    (5xx) or given up and handled by C(--on-reject quarantine) or C(discard): the fetcher
    deletes it upstream; C(64) bad options or RECIPIENT, nothing sent; C(65) larger than
    512 MiB, nothing sent; C(69) refused or given up with C(--on-reject keep), kept upstream;
    C(70) internal error, kept upstream; C(75) try again later (no connection, a 4xx,
    XCLIENT not offered, no trusted C(Received) header, quarantine not writable), kept
    upstream - until C(--max-attempts) (default 30) deferred attempts or C(--max-age)
    (default 432000 s) since the first deferral, then it is handled as refused, with the
    reason. C(xclient-inject --help) lists them too."
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.no_diff
seealso:
  - module: mailops.xclient.xclient_probe
"""

EXAMPLES = r"""
- name: Re-inject the quarantine after relaxing a rule (what is still refused stays there)
  mailops.xclient.xclient_inject:
    path: /var/lib/xclient-inject/quarantine
    port: 10027
    received_by: 'mx[0-9]+\.isp\.example'
    internal_networks: [198.51.100.0/24]  # the provider's content filter hosts
    fail_on_rejected: false

- name: Which identity would this message get
  mailops.xclient.xclient_inject:
    path: /tmp/message.eml
    rcpt_to: [postmaster@example.net]
    received_by: 'mx[0-9]+\.isp\.example'
  check_mode: true
  register: dry
"""

RETURN = r"""
messages:
  description: One result per message file, in order.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: The message file., type: str}
    xclient:
      description: The identity sent (addr, name, helo, proto), or null when none could be
        parsed.
      type: dict
    received: {description: "The trusted Received header, unfolded.", type: str}
    outcome:
      description:
        - V(accepted) (every recipient; the file is removed), V(partial) (some recipients
          refused; the file is kept for them, see RV(messages[].kept_for)), V(rejected)
          (5xx, or an envelope that is not RFC 5321 - stage C(envelope)), V(deferred) (4xx,
          no connection, no trusted C(Received) header), V(error) (the file is not a
          regular file with one link - stage C(file) - or cannot be read, or has no
          recipient), or V(dry_run) in check mode.
        - Every outcome but V(accepted) and V(partial) leaves the file as it was.
      type: str
    stage: {description: The SMTP stage that decided., type: str}
    reply: {description: The deciding reply or the reason., type: str}
    sender: {description: The envelope sender used., type: str}
    recipients: {description: The envelope recipients., type: list, elements: str}
    accepted: {description: Recipients Postfix accepted., type: list, elements: str}
    refused: {description: "Recipients Postfix refused, with the reply.", type: dict}
    removed: {description: Whether the file was removed., type: bool}
    kept_for:
      description: After a partial delivery, the refused recipients the file was rewritten
        for (each with its reason in the file).
      type: list
      elements: str
summary:
  description: How many messages ended how (outcome to count), and C(total).
  returned: always
  type: dict
"""

import re
import socket
from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._inject import (
    INJECT_PORT,
    INJECT_SERVER,
    UNPARSED_CHOICES,
    Target,
    UsageError,
    changed,
    check_address,
    inject_path,
)
from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    internal_networks,
)


def check_options(p: Dict[str, Any]) -> None:
    """UsageError naming the option; before any message is read or sent."""
    if not 0 < p["port"] <= 65535:
        raise UsageError(f"port: {p['port']} is not a TCP port (1 to 65535)")
    if not 0 < p["timeout"] < 86400:
        raise UsageError("timeout: must be more than 0 and less than 86400 seconds")
    for rcpt in p["rcpt_to"] or []:
        check_address("rcpt_to", rcpt)
    if p["sender"] is not None:
        check_address("sender", p["sender"], null_ok=True)
    if not 0 <= p["lock_timeout"] <= 86400:
        raise UsageError("lock_timeout: must be between 0 and 86400 seconds")
    helo = p["helo"]
    if helo is not None and (not helo or any(c.isspace() or c == "\0" for c in helo)):
        raise UsageError(f"helo: {p['helo']!r} must be one word")
    if p["received_by"] is not None:
        try:
            re.compile(p["received_by"])
        except re.error as exc:
            raise UsageError(f"received_by: not a regular expression: {exc}") from None
    try:
        internal_networks(p["internal_networks"])
    except ValueError as exc:
        raise UsageError(f"internal_networks: {exc}") from None


def summarize(results: List[Dict[str, Any]]) -> Dict[str, int]:
    """How many messages ended how, and the total."""
    summary = {"total": len(results)}
    for result in results:
        summary[result["outcome"]] = summary.get(result["outcome"], 0) + 1
    return summary


def main() -> None:
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        server=dict(type="str", default=INJECT_SERVER),
        port=dict(type="int", default=INJECT_PORT),
        timeout=dict(type="float", default=60),
        helo=dict(type="str"),
        source_address=dict(type="str"),
        received_by=dict(type="str"),
        internal_networks=dict(type="list", elements="str", default=[]),
        unparsed=dict(type="str", default="tempfail", choices=list(UNPARSED_CHOICES)),
        sender=dict(type="str"),
        rcpt_to=dict(type="list", elements="str"),
        remove_injected=dict(type="bool", default=True),
        fail_on_rejected=dict(type="bool", default=True),
        lock_timeout=dict(type="float", default=600),
    ), supports_check_mode=True)
    p = module.params
    target = Target(server=p["server"], port=p["port"], timeout=p["timeout"],
                    helo=p["helo"] or socket.gethostname(),
                    source_address=p["source_address"])
    try:
        check_options(p)
        results = inject_path(p["path"], target, p["received_by"], p["unparsed"],
                              p["sender"], p["rcpt_to"], dry_run=module.check_mode,
                              remove=p["remove_injected"], lock_timeout=p["lock_timeout"],
                              networks=internal_networks(p["internal_networks"]))
    except UsageError as exc:
        module.fail_json(msg=str(exc))
    out = dict(changed=changed(results),
               messages=results, summary=summarize(results))
    bad = [r for r in results if r["outcome"] not in ("accepted", "dry_run")]
    if p["fail_on_rejected"] and bad:
        module.fail_json(msg=f"{len(bad)} of {len(results)} messages were not accepted: "
                         + "; ".join(f"{r['path']}: {r['outcome']} ({r['reply']})"
                                     for r in bad[:10]), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
