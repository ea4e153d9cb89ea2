#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xclient_probe
short_description: Verify what Postfix answers for given client identities, using XCLIENT
version_added: 0.1.0
description:
  - Connects to an SMTP server once per case, optionally overrides the client identity with
    Postfix's C(XCLIENT) command, and checks the replies to C(XCLIENT), C(MAIL FROM),
    C(RCPT TO) and (only when the case gives a message) C(DATA) against what the case
    expects.
  - Without O(cases[].data) no mail is ever queued; every session ends with C(RSET) and
    C(QUIT). A case with O(cases[].data) queues real mail when the server accepts the
    message, and the task then reports C(changed=true).
  - After a successful C(XCLIENT) the module waits for the fresh C(220) greeting and sends
    C(EHLO) again, with the declared C(helo) of O(cases[].xclient) when one is given, so the HELO
    Postfix checks is the declared one (none at all for C([UNAVAILABLE]) and C([TEMPUNAVAIL])).
    Its reply is the C(helo) stage; when Postfix rejects it the case goes on as a client
    would (C(MAIL) is still sent), and O(cases[].expect.helo) can judge it.
  - One command, one reply, checked at every step - a reply that cannot answer the
    command sent, or anything the server sends unasked (a reply that comes late, twice or
    early, also after C(DATA)'s C(354), at C(RSET), at C(QUIT) and after the reply to
    C(QUIT) until the server closes), ends the case as an error, never as a pass; so does
    a C(421).
  - A C(4.3.5) reply (C(451 4.3.5 Server configuration error), a misspelled restriction
    or a table Postfix cannot open) is its own outcome, V(config_error) - it never
    satisfies V(deferred) or V(rejected), only V(config_error), its code or its enhanced
    code; the task warns about it as a configuration problem.
  - Progress goes to the target's log (C(module.log)) - the number of cases at the start,
    how many are done every 10 seconds, the summary at the end; a run over 10 seconds
    in which cases ran into their O(timeout) warns about them by name.
  - One case is one connection, because Postfix re-checks XCLIENT authorization against the
    new identity. Cases run in parallel up to O(concurrency); a failing case never stops
    the others.
  - The task fails when any case does not behave as expected (unless O(fail_on_mismatch=false)),
    with a per-case table of what was expected and what the server answered.
author:
  - mailops.xclient contributors (@mailops)
attributes:
  check_mode:
    support: full
    details: Changes nothing unless a case gives O(cases[].data) and the server accepts
      the message (mail is queued; C(changed=true)). In check mode the cases run as
      usual, but no message is sent - a case's C(DATA) stage is skipped, and a warning and
      the report row name the cases whose O(cases[].expect.data) was therefore not judged.
options:
  server:
    description: Host name or IP address of the SMTP server to probe.
    type: str
    required: true
  port:
    description: TCP port of the SMTP server.
    type: int
    default: 25
  tls:
    description:
      - V(none) for plain SMTP, V(starttls) to upgrade with C(STARTTLS) before C(XCLIENT),
        V(smtps) for implicit TLS.
      - Certificates are verified unless O(validate_certs=false).
    type: str
    choices: [none, starttls, smtps]
    default: none
  validate_certs:
    description: Verify the server certificate and its name when O(tls) is not V(none).
    type: bool
    default: true
  ca_file:
    description: PEM file with the CA certificates to trust instead of the system store.
    type: path
  server_name:
    description: Name to expect in the server certificate (and send as SNI); default O(server).
    type: str
  helo:
    description:
      - Name sent with C(EHLO) (one word).
      - Default is the fully qualified name of the host the module runs on -
        C(socket.getfqdn()), or the host name itself when that resolves only to
        C(localhost) (a host name on a loopback line of C(/etc/hosts)); a host name without
        a domain when no domain is known; C(localhost) only when the host has no name.
    type: str
  source_address:
    description: Local address to connect from (the address Postfix authorizes XCLIENT for).
    type: str
  timeout:
    description:
      - Seconds one case may take in all, from connect to C(QUIT), including matching
        its regular expressions. A case that runs out of time ends as an error; the other
        cases go on. More than 0, at most 86400.
    type: float
    default: 30
  concurrency:
    description: How many cases run at the same time (one connection each).
    type: int
    default: 10
  fail_on_mismatch:
    description: Fail the task when a case does not behave as expected or cannot be run.
    type: bool
    default: true
  transcript:
    description:
      - Which cases return the SMTP transcript. LOGIN values are always masked.
      - V(failures) keeps memory bounded for large case sets.
    type: str
    choices: [failures, all, none]
    default: failures
  baseline:
    description:
      - A file of verdicts (JSON). When it does not exist, this run's verdicts are recorded
        in it; when it does, this run is compared with it and every case and stage whose
        verdict changed is reported in RV(baseline.changes) - a changed verdict fails the
        task like a case that does not behave as expected (O(fail_on_mismatch)).
      - A verdict is what the server answered (the XCLIENT outcome, the reply codes of
        MAIL, each RCPT and DATA), not whether the case passed. LOGIN values are masked.
      - In check mode the file is not written.
    type: path
    version_added: 0.2.0
  baseline_update:
    description: After comparing, record this run's verdicts in O(baseline).
    type: bool
    default: false
    version_added: 0.2.0
  cases:
    description: What to probe. Names must be unique.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the case, shown in the report.
        type: str
        required: true
      xclient:
        description:
          - Client identity to send with C(XCLIENT). Omitted means no C(XCLIENT) is sent.
          - Keys in lower case or in upper case (the XCLIENT attribute names), each key once.
            Values are xtext-encoded; each must stay within 255 octets.
        type: dict
        suboptions:
          name:
            description: Client host name, C([UNAVAILABLE]) or C([TEMPUNAVAIL]).
            type: str
            aliases: [NAME]
          addr:
            description: Client IPv4 or IPv6 address (sent in the C(IPV6:) form) or
              C([UNAVAILABLE]).
            type: str
            aliases: [ADDR]
          port:
            description: Client port, 0 to 65535 (a number or a string), or C([UNAVAILABLE]).
            type: raw
            aliases: [PORT]
          proto:
            description: The protocol Postfix logs and checks; lower case is accepted too.
            type: str
            choices: [SMTP, ESMTP, smtp, esmtp]
            aliases: [PROTO]
          helo:
            description:
              - The HELO name Postfix checks. After C(XCLIENT) the probe greets with
                exactly this name (one word), so the HELO Postfix checks is the declared
                one; with C([UNAVAILABLE]) or C([TEMPUNAVAIL]) it sends no C(HELO)/C(EHLO)
                at all and C(MAIL) follows the new greeting.
            type: str
            aliases: [HELO]
          login:
            description:
              - SASL login name. A secret - masked in the whole result, also where the
                server quotes it in a reply.
            type: str
            aliases: [LOGIN]
          destaddr:
            description: Server address the client connected to (IPv4 or IPv6).
            type: str
            aliases: [DESTADDR]
          destport:
            description: Server port the client connected to, 0 to 65535 (a number or a
              string), or C([UNAVAILABLE]).
            type: raw
            aliases: [DESTPORT]
          reverse_name:
            description: Client reverse host name, C([UNAVAILABLE]) or C([TEMPUNAVAIL]).
            type: str
            aliases: [REVERSE_NAME]
      helo:
        description:
          - EHLO name to send after C(XCLIENT) instead of O(helo), for cases without a
            declared C(xclient.helo) (with one, it must be the same name or left out).
        type: str
      force_xclient:
        description:
          - Send C(XCLIENT) even when the server does not advertise it (or not all the
            attributes), to see the server refuse it - C(550 5.7.0 Error. insufficient
            authorization) from Postfix - or to use it while
            C(smtpd_discard_ehlo_keywords) hides the keyword.
        type: bool
        default: false
      source_address:
        description:
          - Local address this case connects from, instead of O(source_address). With a
            proxy in front of Postfix this is the client address Postfix should see.
        type: str
      mail_from:
        description:
          - Envelope sender for C(MAIL FROM); empty string for the null sender.
          - An address without a domain (V(foo)) is sent as given, as Postfix accepts it
            (C(reject_non_fqdn_sender) is there to judge it). A list or a dictionary is an
            error, never turned into text.
        type: str
      rcpt_to:
        description: Recipients, one C(RCPT TO) each.
        type: list
        elements: str
      data:
        description:
          - Message (headers and body) to send with C(DATA) if a recipient is accepted.
            This queues real mail on the server (C(changed=true)). Skipped in check mode.
            One string (use a YAML block C(|)); a list is an error.
          - Line endings become CRLF and lines starting with a dot are dot-stuffed. A NUL
            or a line over 998 octets is refused before any connection. 8-bit text is sent
            with C(BODY=8BITMIME) (and C(SMTPUTF8) for non-ASCII headers or addresses);
            when the server does not offer the extension the case ends as an error.
        type: str
      expect:
        description:
          - What the server must answer, per stage. A stage left out is not judged. A case
            that expects nothing at all (no O(cases[].expect), no O(cases[].xclient)) is
            reported as such - its report row says C(nothing expected) and the task
            warns - rather than passing silently.
          - Each stage is a word, a reply code such as V(554), an enhanced status code such
            as V(5.7.1), or a dictionary with C(status) (one of those) and C(text), a
            regular expression the reply text must match.
          - One vocabulary for every stage - V(accepted) (2xx or 3xx), V(rejected) (5xx),
            V(deferred) (4xx), V(config_error) (C(4.3.5)/C(Server configuration error),
            which matches neither V(deferred) nor V(rejected)), V(any); the C(xclient)
            stage adds V(refused), V(not_offered) and V(offered). The words of earlier
            releases V(accept), V(reject) and V(tempfail) are still understood as
            V(accepted), V(rejected) and V(deferred) (deprecated).
          - Each case's regular expressions are judged after every session has ended,
            within what is left of that case's own O(timeout), so how many cases run at once
            never changes a verdict.
          - A C(421) reply at any stage ends the case at once; it passes only when that
            stage expects exactly V(421).
          - A regular expression that has not finished when the case's O(timeout) is over
            ends the case as an error.
        type: dict
        suboptions:
          connect:
            description:
              - The greeting. V(accepted) (2xx or 3xx), V(rejected) (5xx), V(deferred)
                (4xx), V(config_error), V(any), a reply code or an enhanced code; or a
                dictionary with C(status) and C(text).
            type: raw
          xclient:
            description:
              - The reply to C(XCLIENT). V(accepted) (the new identity is in force),
                V(refused) (Postfix refused the command itself, with its own C(Error:),
                C(Syntax:) or C(Bad ... syntax) reply - not authorized C(550 5.7.0), bad
                syntax, a transaction in progress - the identity was not applied),
                V(rejected) or V(deferred) (the identity was applied and a restriction
                refused it at once, as with C(smtpd_delay_reject=no) - whatever the code,
                also a C(501) or C(504) from a HELO check), V(config_error), V(not_offered),
                V(any), a reply code or an enhanced code; or a dictionary with C(status)
                and C(text).
              - Default V(accepted) when O(cases[].xclient) is given. For a case without
                it, V(offered) or V(not_offered) checks the EHLO keyword.
            type: raw
          helo:
            description:
              - The reply to the greeting after an accepted C(XCLIENT) (C(EHLO), or C(HELO)
                for a declared C(PROTO=SMTP)) - the HELO Postfix checks for the new
                identity; needs O(cases[].xclient) without a C([UNAVAILABLE]) or
                C([TEMPUNAVAIL]) HELO. Words and codes as for O(cases[].expect.connect).
              - Whatever the reply, the case goes on with C(MAIL), as Postfix does.
            type: raw
          mail:
            description:
              - The reply to C(MAIL FROM); needs O(cases[].mail_from). Words and codes as
                for O(cases[].expect.connect).
            type: raw
          rcpt:
            description:
              - The reply to C(RCPT TO), for every recipient; or a list with one entry per
                recipient of O(cases[].rcpt_to). Words and codes as for
                O(cases[].expect.connect).
            type: raw
          data:
            description:
              - The reply to the message (or to C(DATA) when it refuses); needs
                O(cases[].data). Skipped in check mode. Words and codes as for
                O(cases[].expect.connect).
            type: raw
          text:
            description:
              - A regular expression the reply of the last stage that has an expectation
                must match.
            type: str
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.read_only
notes:
  - Check mode is supported; probes change nothing, and C(DATA) is skipped.
  - The probing host must be in C(smtpd_authorized_xclient_hosts) of the listener for
    C(XCLIENT) to be offered; see M(mailops.xclient.xclient_probe) examples.
  - With more than 100 cases, the C(invocation) shown at high verbosity gives the number
    of cases instead of echoing them all; RV(cases) names each one.
"""

EXAMPLES = r"""
- name: Access rules hold for these client identities
  mailops.xclient.xclient_probe:
    server: mx1.example.net
    port: 25
    cases:
      - name: blocked network is refused at RCPT
        xclient: {addr: 192.0.2.66, name: spam.example}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
        expect: {xclient: accepted, rcpt: rejected}
      - name: other hosts may not use XCLIENT
        source_address: 192.0.2.10  # another address of the probing host
        expect: {xclient: not_offered}

- name: Report what the HELO stage and RCPT say, without failing the task
  mailops.xclient.xclient_probe:
    server: mx1.example.net
    fail_on_mismatch: false  # the verdicts are in probe_helo.report
    cases:
      # With smtpd_delay_reject=no and a HELO check, Postfix rejects the greeting after
      # XCLIENT; the case still sends MAIL and RCPT, as a client of Postfix would.
      - name: a bad HELO is rejected at once
        xclient: {addr: 192.0.2.67, helo: "bad_helo"}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
        expect: {helo: rejected, rcpt: rejected}
      # A misspelled restriction answers 451 4.3.5: that is config_error, never deferred
      - name: this client is deferred by a rule, not by a broken configuration
        xclient: {addr: 203.0.113.45}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
        expect: {rcpt: deferred}
  register: probe_helo

- name: Relay needs authentication; the reply text says why
  mailops.xclient.xclient_probe:
    server: 127.0.0.1
    port: 10025
    tls: starttls
    ca_file: /etc/ssl/certs/internal-ca.pem
    server_name: mx1.example.net
    cases:
      - name: unauthenticated relay is denied
        xclient: {addr: "2001:db8::25", name: "[UNAVAILABLE]", helo: client.example}
        mail_from: someone@example.org
        rcpt_to: [someone@elsewhere.example]
        expect:
          rcpt: {status: "5.7.1", text: "Relay access denied"}
  register: probe

- name: After a deploy, every verdict is the one recorded the last time it was accepted
  mailops.xclient.xclient_probe:
    server: mx1.example.net
    baseline: /var/lib/mailops/verdicts.json  # the first run records it
    baseline_update: false  # true: the verdicts of this run become the baseline
    cases:
      - name: blocked network is refused at RCPT
        xclient: {addr: 192.0.2.66, name: spam.example}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
        expect: {rcpt: rejected}
"""

RETURN = r"""
cases:
  description: One entry per case, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The case name.
      type: str
      returned: always
      sample: relay is denied
    passed:
      description: Whether every expectation held and the session ran to the end.
      type: bool
      returned: always
      sample: true
    status:
      description: V(passed), V(failed) (the server answered otherwise) or V(error).
      type: str
      returned: always
      sample: passed
    error:
      description: Why the case could not be run (connection refused, timeout, TLS...);
        null when it ran.
      type: str
      returned: always
      sample: null
    judged:
      description:
        - V(false) on a case that expected nothing (no O(cases[].expect) and no
          O(cases[].xclient) to default one) - it was run but not judged; it counts as
          passed, its report row and the verify role's JUnit file (as C(skipped)) say so.
      type: bool
      returned: only on a case that expected nothing
      sample: false
    mismatches:
      description: One line per expectation that did not hold.
      type: list
      elements: str
      returned: always
      sample:
        - "rcpt someone@elsewhere.example: expected accepted, got 554 5.7.1
          <someone@elsewhere.example>: Relay access denied"
    stages:
      description:
        - What the server answered, per stage. Stages not reached are absent.
        - A passed case leaves out C(connect), C(ehlo) and C(helo), which are the same for
          every case and only explain failures, unless it had an expectation on
          C(connect) or O(transcript=all) is set. A failed case has every stage it reached.
      type: dict
      returned: always
      contains:
        connect:
          description: The greeting.
          type: dict
          returned: when reached
          contains:
            code:
              description: The reply code.
              type: int
              returned: always
              sample: 220
            enhanced:
              description: The RFC 3463 enhanced status code of the reply; null when it
                has none.
              type: str
              returned: always
              sample: null
            text:
              description: The reply text, without codes; lines joined with newlines.
              type: str
              returned: always
              sample: probe-target.test ESMTP private-test-instance
        ehlo:
          description: The reply to the first C(EHLO) (to C(HELO) from a server without
            ESMTP; with O(tls=starttls), the one after C(STARTTLS)).
          type: dict
          returned: when reached
          contains:
            code:
              description: The reply code.
              type: int
              returned: always
              sample: 250
            enhanced:
              description: The enhanced status code; null when the reply has none.
              type: str
              returned: always
              sample: null
            text:
              description: The first line of the reply (the server's name); the keywords
                are reported once for the whole run as RV(xclient_attributes), and in full
                in the transcript.
              type: str
              returned: always
              sample: probe-target.test
        xclient:
          description: The reply to C(XCLIENT) (the last command, when the attributes
            took more than one), or why none was sent.
          type: dict
          returned: when the case gives O(cases[].xclient) or expects something of it
          contains:
            outcome:
              description: V(accepted) (the new identity is in force), V(refused)
                (Postfix refused the command itself), V(rejected) or V(deferred) (the
                identity was applied, then the restrictions refused it), V(config_error)
                (C(4.3.5 Server configuration error)), V(not_offered)
                (not sent - the EHLO reply does not offer XCLIENT or the attributes) or
                V(offered) (a case without identity, offered XCLIENT).
              type: str
              returned: always
              sample: accepted
            code:
              description: The reply code; null when no XCLIENT was sent.
              type: int
              returned: always
              sample: 220
            enhanced:
              description: The enhanced status code; null when there is none.
              type: str
              returned: always
              sample: null
            text:
              description: The reply text; when no XCLIENT was sent, why (empty for a
                case without identity).
              type: str
              returned: always
              sample: probe-target.test ESMTP private-test-instance
            attributes:
              description: For a case without O(cases[].xclient) - the XCLIENT attributes
                the EHLO reply advertised, null when XCLIENT is not offered.
              type: list
              elements: str
              returned: for a case without O(cases[].xclient)
              sample: [NAME, ADDR, PROTO, HELO, REVERSE_NAME, PORT, LOGIN, DESTADDR,
                       DESTPORT]
        helo:
          description: The reply to the greeting after C(XCLIENT) (C(EHLO), or C(HELO)
            for a declared C(PROTO=SMTP)); a rejection here does not end the case.
          type: dict
          returned: when reached after an accepted XCLIENT
          contains:
            code:
              description: The reply code.
              type: int
              returned: unless skipped
              sample: 250
            enhanced:
              description: The enhanced status code; null when the reply has none.
              type: str
              returned: unless skipped
              sample: null
            text:
              description: The first line of the reply (the server's name).
              type: str
              returned: unless skipped
              sample: probe-target.test
            skipped:
              description: Why no greeting was sent (the only key then) - a declared
                C([UNAVAILABLE]) or C([TEMPUNAVAIL]) HELO.
              type: str
              returned: when skipped
              sample: "xclient.helo is [UNAVAILABLE]: no HELO/EHLO after XCLIENT"
        mail:
          description: The reply to C(MAIL FROM).
          type: dict
          returned: when reached
          contains:
            code:
              description: The reply code.
              type: int
              returned: always
              sample: 250
            enhanced:
              description: The enhanced status code; null when the reply has none.
              type: str
              returned: always
              sample: 2.1.0
            text:
              description: The reply text, without codes.
              type: str
              returned: always
              sample: Ok
        rcpt:
          description: The replies to C(RCPT TO), one per recipient, in order.
          type: list
          elements: dict
          returned: when reached
          contains:
            recipient:
              description: The recipient this reply is for.
              type: str
              returned: always
              sample: someone@elsewhere.example
            code:
              description: The reply code.
              type: int
              returned: always
              sample: 554
            enhanced:
              description: The enhanced status code; null when the reply has none.
              type: str
              returned: always
              sample: 5.7.1
            text:
              description: The reply text, without codes.
              type: str
              returned: always
              sample: "<someone@elsewhere.example>: Relay access denied"
        data:
          description: The reply to the message (to C(DATA) when the server refused it).
          type: dict
          returned: when reached
          contains:
            code:
              description: The reply code.
              type: int
              returned: unless skipped
              sample: 250
            enhanced:
              description: The enhanced status code; null when the reply has none.
              type: str
              returned: unless skipped
              sample: 2.0.0
            text:
              description: The reply text, without codes.
              type: str
              returned: unless skipped
              sample: "Ok: queued as F20BF21CA38"
            skipped:
              description: Why no message was sent (the only key then) - check mode.
              type: str
              returned: in check mode
              sample: "check mode: no message is sent"
    elapsed_ms:
      description: Wall time of the case.
      type: float
      returned: always
      sample: 12.7
    transcript:
      description: The SMTP dialogue (C(C:) client, C(S:) server, C(--) what happened),
        LOGIN masked.
      type: list
      elements: str
      returned: per O(transcript)
      sample:
        - "-- connected to 127.0.0.1:60331 from 127.0.0.1:46744"
        - "S: 220 probe-target.test ESMTP private-test-instance"
        - "C: EHLO probe-client.test"
        - "S: 250-probe-target.test"
        - "S: 250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"
        - "S: 250 CHUNKING"
        - "C: XCLIENT NAME=h251.example ADDR=192.0.2.251"
        - "S: 220 probe-target.test ESMTP private-test-instance"
        - "C: EHLO probe-client.test"
        - "S: 250-probe-target.test"
        - "S: 250 CHUNKING"
        - "C: MAIL FROM:<probe@example.org>"
        - "S: 250 2.1.0 Ok"
        - "C: RCPT TO:<someone@elsewhere.example>"
        - "S: 554 5.7.1 <someone@elsewhere.example>: Relay access denied"
        - "C: RSET"
        - "S: 250 2.0.0 Ok"
        - "C: QUIT"
        - "S: 221 2.0.0 Bye"
summary:
  description: Counts of cases.
  returned: always
  type: dict
  sample: {total: 6, passed: 5, failed: 1, errors: 0}
  contains:
    total:
      description: All cases.
      type: int
      returned: always
    passed:
      description: Cases whose expectations all held.
      type: int
      returned: always
    failed:
      description: Cases the server answered otherwise than expected.
      type: int
      returned: always
    errors:
      description: Cases that could not be run to the end.
      type: int
      returned: always
baseline:
  description: What O(baseline) recorded or found.
  returned: when O(baseline) is given
  type: dict
  version_added: 0.2.0
  contains:
    path:
      description: The baseline file.
      type: str
    action:
      description: V(recorded), V(compared) or V(compared and updated).
      type: str
    changes:
      description: One row per case and stage whose verdict differs from the baseline -
        C(case), C(identity), C(stage), C(before), C(after).
      type: list
      elements: dict
    unchanged:
      description: How many cases kept every verdict.
      type: int
    added:
      description: Cases not in the baseline.
      type: list
      elements: str
    removed:
      description: Cases of the baseline not in this run.
      type: list
      elements: str
    redefined:
      description: Cases whose identity (what the case sends) differs from the baseline's
        under the same name; not compared.
      type: list
      elements: str
xclient_attributes:
  description: The XCLIENT attributes the server advertised (null when not offered).
  returned: always
  type: list
  elements: str
  sample: [NAME, ADDR, PROTO, HELO, REVERSE_NAME, PORT, LOGIN, DESTADDR, DESTPORT]
report:
  description:
    - The per-case table, one line per list item (a header, then one line per case),
      readable as-is with C(debug) - the same rows as the verify role's report (filter
      P(mailops.xclient.verify_report#filter)). Names are shown in full, columns aligned;
      control characters are shown escaped.
  returned: always
  type: list
  elements: str
  sample:
    - "CASE                              RESULT  DETAIL"
    - "relay is denied                   passed  xclient accepted 220, mail 250 2.1.0 Ok,
      rcpt 554 5.7.1 <someone@elsewhere.example>: Relay access denied"
    - "this host may use XCLIENT         passed  xclient offered"
    - "expects what Postfix will not do  FAILED  rcpt someone@elsewhere.example: expected
      accepted, got 554 5.7.1 <someone@elsewhere.example>: Relay access denied"
"""

import copy
import socket
import time
from typing import Any, Dict, List, Mapping, Sequence

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.mailops.xclient.plugins.module_utils._baseline import (
    BaselineError,
    apply_baseline,
    check_baseline,
    describe,
    record,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    ProbeInputError,
    case_options,
    check_helo,
    check_host,
    check_source_address,
    check_timeout,
    explain_cases,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    is_config_error,
    render_table,
    summarize,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    TRANSCRIPT_MODES,
    ProbeTarget,
    advertised_attributes,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    TLS_MODES,
    make_tls_context,
)

# Above this many cases the result's invocation shows their number, not the cases.
INVOCATION_CASES_MAX = 100
HIDDEN = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"  # what Ansible shows for a no_log value
SLOW_RUN = 10.0  # seconds: a longer run that timed out says why, as a warning


def argument_spec() -> Dict[str, Any]:
    return dict(
        server=dict(type="str", required=True),
        port=dict(type="int", default=25),
        tls=dict(type="str", default="none", choices=list(TLS_MODES)),
        validate_certs=dict(type="bool", default=True),
        ca_file=dict(type="path"),
        server_name=dict(type="str"),
        helo=dict(type="str"),
        source_address=dict(type="str"),
        timeout=dict(type="float", default=30),
        concurrency=dict(type="int", default=10),
        fail_on_mismatch=dict(type="bool", default=True),
        transcript=dict(type="str", default="failures", choices=list(TRANSCRIPT_MODES)),
        cases=dict(type="list", elements="dict", required=True, options=case_options()),
        baseline=dict(type="path"),
        baseline_update=dict(type="bool", default=False),
    )


def default_helo() -> str:
    """The host's fully qualified name: socket.getfqdn(), unless that is only
    ``localhost`` (a host whose own name resolves to a loopback line of /etc/hosts), then
    the host name itself when it has a domain; else the host name; ``localhost`` only when
    the host has no name at all."""
    names = [socket.getfqdn(), socket.gethostname()]
    usable = [n for n in names if n and not n.lower().startswith("localhost")]
    for name in usable:
        if "." in name.strip("."):
            return name
    return usable[0] if usable else "localhost"


def safe_cases(cases: Any) -> Any:
    """``cases`` for echoing back (invocation): every ``xclient`` value hidden unless it
    is a dictionary, and in a dictionary every LOGIN value hidden, whatever its type."""
    if not isinstance(cases, list):
        return cases
    out = []
    for case in cases:
        if isinstance(case, Mapping) and "xclient" in case and case["xclient"] is not None:
            case = dict(case)
            xc = case["xclient"]
            case["xclient"] = {k: HIDDEN if str(k).lower() == "login" and v is not None
                               else v for k, v in xc.items()} \
                if isinstance(xc, Mapping) else HIDDEN
        out.append(case)
    return out


class ProbeModule(AnsibleModule):
    """AnsibleModule whose argument errors about a case say which case: Ansible's own
    message names the field (``cases.expect.rcp``) but not the case among thousands.
    It keeps the cases as given (``raw_cases``), before Ansible's conversions, which
    would turn a list into its Python text where a string is expected."""

    _arguments_checked = False
    raw_cases: Any = None
    _raw_params: Dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._arguments_checked = True

    def _load_params(self) -> None:
        super()._load_params()
        self._raw_params = {k: v for k, v in self.params.items() if k != "cases"}
        self.raw_cases = copy.deepcopy(self.params.get("cases"))

    def _other_options_wrong(self) -> bool:
        """Whether the options other than ``cases`` fail the spec: their error, in
        Ansible's words, then goes first."""
        # the parameters as given: self.params has every unset option filled in by now
        params = {k: v for k, v in self._raw_params.items() if not k.startswith("_ansible_")}
        spec = {k: v for k, v in self.argument_spec.items() if k != "cases"}
        try:
            return bool(ArgumentSpecValidator(spec).validate(params).error_messages)
        except Exception:  # pylint: disable=broad-exception-caught
            return False

    def fail_json(self, msg: str, **kwargs: Any) -> Any:
        if "invocation" not in kwargs:
            params = dict(getattr(self, "params", None) or {})
            params["cases"] = safe_cases(params.get("cases"))
            kwargs["invocation"] = {"module_args": params}
        if not self._arguments_checked:
            if not self._other_options_wrong():
                msg = explain_cases(self.raw_cases) or msg
            if "xclient" in msg:  # Ansible's own words may quote the value
                msg = explain_cases(self.raw_cases) or \
                    "cases: an xclient value is not valid (not shown: it may hold a LOGIN)"
        super().fail_json(msg=msg, **kwargs)


def _target(module: AnsibleModule) -> ProbeTarget:
    """The target options, checked (fails the module naming the field)."""
    p = module.params
    if not 0 < p["port"] <= 65535:
        module.fail_json(msg=f"port: {p['port']} is not a TCP port (1 to 65535)")
    if p["concurrency"] < 1:
        module.fail_json(msg="concurrency: must be at least 1")
    try:
        server = check_host("server", p["server"])
        server_name = (check_host("server_name", p["server_name"])
                       if p["server_name"] is not None else None)
        timeout = check_timeout("timeout", p["timeout"])
        helo = check_helo("helo", p["helo"] if p["helo"] is not None else default_helo())
        source = (check_source_address("source_address", p["source_address"])
                  if p["source_address"] is not None else None)
    except ProbeInputError as exc:
        module.fail_json(msg=str(exc))
    return ProbeTarget(server=server, port=p["port"], tls=p["tls"], helo=helo,
                       source_address=source, timeout=timeout,
                       server_name=server_name)


def _notes(module: AnsibleModule, results: Sequence[Mapping[str, Any]],
           quiet: List[str]) -> None:
    """Warnings a reader must not miss although the cases may have passed."""
    broken = [r["name"] for r in results if any(
        is_config_error(one.get("code"), one.get("enhanced"), one.get("text") or "")
        for stage in r["stages"].values()
        for one in (stage if isinstance(stage, list) else [stage]))]
    if broken:
        module.warn(f"{len(broken)} case(s) got '4.3.5 Server configuration error': the"
                    " server's configuration is broken (a misspelled restriction, a table"
                    " it cannot open) and no rule there is working: "
                    + ", ".join(broken[:10]) + (" ..." if len(broken) > 10 else ""))
    if quiet:
        module.warn(f"{len(quiet)} case(s) expect nothing (no expect, no xclient) and were"
                    " not judged: " + ", ".join(quiet[:10])
                    + (" ..." if len(quiet) > 10 else ""))
    skipped = [r["name"] for r in results if (r["stages"].get("data") or {}).get("skipped")]
    if skipped:
        module.warn(f"check mode: {len(skipped)} case(s) did not send their message (DATA"
                    " skipped, expect.data not judged): " + ", ".join(skipped[:10])
                    + (" ..." if len(skipped) > 10 else ""))


def _queued(results: Sequence[Mapping[str, Any]]) -> int:
    """Cases whose message the server accepted: mail was queued."""
    return sum(1 for r in results
               if ((r["stages"].get("data") or {}).get("code") or 0) // 100 == 2)


def main() -> None:
    module = ProbeModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    target = _target(module)
    try:
        # The cases as given, checked strictly (a list where a string is expected is
        # an error naming the field; a key and its alias both given is refused).
        specs = parse_cases(module.raw_cases)
        then = (check_baseline(p["baseline"], p["baseline_update"], module.check_mode)
                if p["baseline"] else None)
    except (ProbeInputError, BaselineError) as exc:
        module.fail_json(msg=str(exc))
    quiet = [spec.name for spec in specs if spec.expects_nothing()]
    # The parsed specs are all that is needed of the cases from here on. Ansible echoes
    # every argument back as the result's invocation, which for a large matrix means
    # holding and copying every case again: show how many there are instead.
    invocation = dict(p)
    invocation["cases"] = safe_cases(p["cases"])
    module.raw_cases = None
    if len(p["cases"]) > INVOCATION_CASES_MAX:
        invocation["cases"] = (f"{len(p['cases'])} cases (more than {INVOCATION_CASES_MAX}"
                               " are not echoed; the cases result names each one)")
        module.params["cases"] = module.validation_result.validated_parameters["cases"] = None
    if p["tls"] != "none":
        try:
            target.tls_context = make_tls_context(p["validate_certs"], p["ca_file"])
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"ca_file: cannot load {p['ca_file']}: {exc}")
    total = len(specs)
    module.log(f"xclient_probe: {total} case(s) against {target.server}:{target.port},"
               f" up to {p['concurrency']} at a time, each within {target.timeout:g}s")

    def progress(done: int, count: int) -> None:
        module.log(f"xclient_probe: {done} of {count} case(s) done")

    advertised: dict = {}
    started = time.monotonic()
    results = run_cases(specs, target, concurrency=p["concurrency"],
                        check_mode=module.check_mode, transcript_mode=p["transcript"],
                        advertised=advertised, progress=progress)
    recorded = record(specs, results) if p["baseline"] else None
    del specs
    summary = summarize(results)
    elapsed = time.monotonic() - started
    module.log(f"xclient_probe: done in {elapsed:.1f}s, {summary}")
    slow = [r["name"] for r in results if "timed out" in (r.get("error") or "")]
    if elapsed > SLOW_RUN and slow:
        module.warn(f"the probe took {elapsed:.0f}s: {len(slow)} case(s) ran into their"
                    f" timeout of {target.timeout:g}s: " + ", ".join(slow[:10])
                    + (" ..." if len(slow) > 10 else ""))
    unjudged = set(quiet)
    for result in results:
        if result["name"] in unjudged:
            result["judged"] = False
    _notes(module, results, quiet)
    report = render_table(results)
    out = dict(changed=_queued(results) > 0, cases=results, summary=summary,
               report=report, xclient_attributes=advertised_attributes(advertised),
               invocation={"module_args": invocation})
    if recorded is not None:
        try:
            found = apply_baseline(p["baseline"], p["baseline_update"], then, recorded,
                                   module.check_mode)
        except BaselineError as exc:
            module.fail_json(msg=str(exc), **out)
        out["changed"] = found.pop("changed") or out["changed"]
        out["baseline"] = found
        changes = found["changes"]
        if p["fail_on_mismatch"] and changes:
            module.fail_json(msg=f"{len(changes)} verdicts differ from the baseline"
                             f" {p['baseline']}:\n" + "\n".join(describe(changes)), **out)
    if p["fail_on_mismatch"] and summary["passed"] != summary["total"]:
        bad = summary["failed"] + summary["errors"]
        module.fail_json(msg=f"{bad} of {summary['total']} cases did not behave as expected"
                         f" ({summary['failed']} failed, {summary['errors']} errors):\n"
                         + "\n".join(render_table(results, only_problems=True)), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
