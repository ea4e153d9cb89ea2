# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The source address this host uses to reach a destination: the address a server there
sees (when nothing translates addresses on the way). The kernel picks it from its routes
when a UDP socket is connected; no packet is sent."""

from __future__ import annotations

import ipaddress
import socket


class SourceAddressError(Exception):
    pass


def source_address(destination: str, port: int = 25) -> str:
    """Raises SourceAddressError naming the field: the destination when it is not an IP
    address or the host has no route to it, the port when it is not 0 to 65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SourceAddressError(f"port: {port!r} is not a port number (0 to 65535)")
    try:
        ip = ipaddress.ip_address(destination)
    except ValueError as exc:
        raise SourceAddressError(f"destination: {destination!r} is not an IP address") from exc
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((str(ip), port))
        except OSError as exc:
            raise SourceAddressError(
                f"destination: no route from this host to {ip} ({exc.strerror or exc})") from exc
        return str(ipaddress.ip_address(sock.getsockname()[0].split("%")[0]))
