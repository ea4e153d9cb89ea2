# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Public suffixes (``co.uk``, ``com.au``, ``github.io``, ``compute.amazonaws.com``): names
under which many unrelated owners register theirs. The list is the Public Suffix List as
the managed host's distribution ships it (Debian and Ubuntu: package ``publicsuffix``;
Fedora: ``publicsuffix-list``), found at ``LIST_PATHS``; the collection carries no copy.

Without the list only top-level domains and the common second-level registries of
two-letter country domains (``co.uk``, ``com.au``, ...) are known (``FALLBACK_SECOND``);
the caller warns that the list is missing.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Set

LIST_PATHS = ("/usr/share/publicsuffix/public_suffix_list.dat",
              "/usr/share/publicsuffix/effective_tld_names.dat",
              "/usr/local/share/publicsuffix/public_suffix_list.dat")
# Second-level labels under two-letter country domains that registries hand out to many
# owners (used only without the list).
FALLBACK_SECOND = frozenset({"ac", "co", "com", "edu", "gov", "net", "org", "or", "ne",
                             "go", "gob", "mil", "nom", "ltd", "plc", "sch", "gv", "ed"})


class PublicSuffixes:
    """The rules of one list; ``path`` None means the fallback."""

    def __init__(self, rules: Iterable[str], path: Optional[str]) -> None:
        self.path = path
        self.exact: Set[str] = set()
        self.wild: Set[str] = set()  # "*.ck" -> "ck"
        self.exceptions: Set[str] = set()
        self.ancestors: Set[str] = set()  # proper parents of a rule's suffix
        for rule in rules:
            rule = rule.strip().lower()
            if not rule or rule.startswith("//"):
                continue
            rule = rule.split()[0]
            if rule.startswith("!"):
                self.exceptions.add(rule[1:])
                continue
            if rule.startswith("*."):
                base = rule[2:]
                self.wild.add(base)
                self.exact.add(base)
            else:
                base = rule
                self.exact.add(base)
            labels = base.split(".")
            for i in range(1, len(labels)):
                self.ancestors.add(".".join(labels[i:]))

    def is_suffix(self, domain: str) -> bool:
        """Whether names are registered directly under ``domain``."""
        domain = domain.strip(".").lower()
        if not domain:
            return False
        if "." not in domain:
            return True  # every top-level domain, listed or not
        if self.path is None:
            first, _sep, rest = domain.partition(".")
            return "." not in rest and len(rest) == 2 and first in FALLBACK_SECOND
        if domain in self.exceptions:
            return False
        if domain in self.exact:
            return True
        _first, _sep, parent = domain.partition(".")
        return parent in self.wild

    def covers_suffix(self, domain: str) -> Optional[str]:
        """A public suffix at or below ``domain`` (``.amazonaws.com`` covers
        ``compute-1.amazonaws.com``), or None."""
        domain = domain.strip(".").lower()
        if self.is_suffix(domain):
            return domain
        if self.path is not None and domain in self.ancestors:
            below = sorted(r for r in self.exact if r.endswith("." + domain))
            return below[0] if below else domain
        return None


def load(paths: Iterable[str] = LIST_PATHS) -> PublicSuffixes:
    """The first list found, or the fallback (``path`` None)."""
    for path in paths:
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                return PublicSuffixes(fh.read().splitlines(), path)
    return PublicSuffixes([], None)
