# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What swaks (the independent SMTP client the probe is compared with) got: the one reading
of its dialogue output used by every test that asks swaks for a second opinion."""

from __future__ import annotations

import re
from typing import Dict, Iterable, Optional

_SENT = re.compile(r"^ -> (\S+)")
_GOT = re.compile(r"^<(?:-|\*\*) +(\d{3})")


def reply_codes(output: str, verbs: Iterable[str]) -> Dict[str, Optional[int]]:
    """The code of the first reply swaks shows after it sent each of ``verbs`` (upper-case
    commands, ``XCLIENT``, ``MAIL``, ``RCPT`` ...); None for a command it did not send or
    that got no reply. ``output`` is swaks' stdout and stderr together."""
    codes: Dict[str, Optional[int]] = {verb: None for verb in verbs}
    last = None
    for line in output.splitlines():
        sent = _SENT.match(line)
        if sent:
            last = sent.group(1).upper()
            continue
        got = _GOT.match(line)
        if got and last in codes and codes[last] is None:
            codes[last] = int(got.group(1))
            last = None
    return codes
