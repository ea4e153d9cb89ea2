# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SpamAssassin's own Received-header samples (t/rcvd_parser.t, data/spamassassin_rcvd_parser.json:
145 real headers, 111 of which SpamAssassin reads as a relay) read by our grammars and
compared with what SpamAssassin expects (address, reverse name, HELO).

The figure (asserted below, so that a change shows): of the 103 samples SpamAssassin reads
as an SMTP relay (the 8 others are web mail: HTTP), we read
- 69 exactly as SpamAssassin does (address, name, HELO);
- 24 with the same address and HELO, and no NAME, because the MTA does not verify the name
  it writes (qmail's TCPREMOTEHOST, Sendmail's "(may be forged)", Gmail, the "(NAME [ADDR])"
  of MTAs that do not say; SpamAssassin only scores it, Postfix would trust NAME for
  check_client_access and reject_unknown_client_hostname): safer;
- 10 not: 2 that are no SMTP client (ecelerity's internal "with ECSTREAM" from 127.0.0.1,
  an LMTP delivery hop), 1 Postfix header that lost its blanks on the way ("[127.0.0.1])by",
  "id 846CF2117for": it no longer fits Postfix's grammar, and a header that names a known
  MTA's fixed text but does not fit its grammar is never read loosely), and 7 formats we
  have no grammar for (Exim 3's "[ADDR.PORT]", the TIS firewall toolkit's smtpd, NAVGW's
  "(from ...)", SMTPL "with TCP", SpamAssassin's synthetic "at just after 10pm"): such an
  MX's messages are not injected (tempfail) rather than guessed;
- 0 with another address or HELO.
The 34 samples SpamAssassin skips (no client: local pickup, fetchmail, scanners) and the 8
web-mail ones are never read as an SMTP client here either.
Before issue 18 the same code read 67 of the 111 as SpamAssassin does.
"""

from __future__ import annotations

import collections
import json
import os

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    ReceivedError,
    parse_received,
)

DATA = os.path.join(os.path.dirname(__file__), "data", "spamassassin_rcvd_parser.json")
SAMPLES = json.load(open(DATA, encoding="utf-8"))["samples"]


def _ours(header):
    try:
        ident = parse_received(header)
    except ReceivedError:
        return None
    helo = "" if ident.helo == "[UNAVAILABLE]" else ident.helo
    if helo.startswith("[") and helo.endswith("]"):  # SpamAssassin writes !ADDR!
        helo = "!" + helo[1:-1].replace("IPv6:", "") + "!"
    name = "" if ident.name == "[UNAVAILABLE]" else ident.name
    return ident.addr, name, helo


def classify():
    counts = collections.Counter()
    differ = []
    for sample in SAMPLES:
        sa, ours = sample["sa"], _ours(sample["header"])
        if sa is None:
            counts["skipped by SpamAssassin, " + ("read" if ours else "not read")] += 1
            continue
        if sa["auth"].upper().startswith("HTTP"):
            counts["web mail, " + ("read" if ours else "not read")] += 1
            continue
        expected = (sa["ip"], sa["rdns"], sa["helo"])
        if ours is None:
            counts["smtp, not read"] += 1
        elif ours == expected:
            counts["smtp, same"] += 1
        elif ours[0] == expected[0] and ours[2] == expected[2] and ours[1] == "":
            counts["smtp, same but no unverified name"] += 1
        else:
            counts["smtp, different"] += 1
            differ.append((sample["header"], expected, ours))
    return counts, differ


def test_spamassassin_samples_figure():
    counts, differ = classify()
    assert differ == []
    assert dict(counts) == {
        "skipped by SpamAssassin, not read": 34,
        "web mail, not read": 8,
        "smtp, same": 69,
        "smtp, same but no unverified name": 24,
        "smtp, not read": 10,
    }


def test_names_we_do_not_take_are_names_their_mta_did_not_verify():
    """Every sample where SpamAssassin has a name and we have none: its writer is one whose
    names are not verified (Sendmail only with "(may be forged)")."""
    for sample in SAMPLES:
        sa, ours = sample["sa"], _ours(sample["header"])
        if sa and ours and sa["rdns"] and not ours[1]:
            header = sample["header"]
            assert ("(Postfix)" not in header and "Exim" not in header
                    and "verified)" not in header) or "may be forged" in header, header
