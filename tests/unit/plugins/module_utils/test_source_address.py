# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._source_address import (
    SourceAddressError,
    source_address,
)


def test_loopback_destination_is_reached_from_loopback():
    assert source_address("127.0.0.1") == "127.0.0.1"
    assert source_address("127.0.0.1", 10025) == "127.0.0.1"


def test_ipv6_loopback_is_normalized():
    assert source_address("0:0:0:0:0:0:0:1") == "::1"


@pytest.mark.parametrize("bad", ["mx.example", "", "198.51.100.300", "127.0.0.1:25"])
def test_not_an_address_names_the_field(bad):
    with pytest.raises(SourceAddressError, match=r"^destination: .* is not an IP address"):
        source_address(bad)


@pytest.mark.parametrize("port", [70000, 65536, -1, True])
def test_port_out_of_range_names_the_field(port):
    # 70000 used to end in a traceback (OverflowError from connect()).
    with pytest.raises(SourceAddressError, match=r"^port: .* is not a port number"):
        source_address("127.0.0.1", port)
