"""Test setup: import the collection as ``ansible_collections.mailops.xclient`` from this
source tree, and give tests a private Postfix instance."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(ROOT, "build", "source-collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "mailops", "xclient")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
