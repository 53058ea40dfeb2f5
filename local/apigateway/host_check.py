"""Which Host headers the gateway answers: the names and addresses it serves, so a page on
another name that resolves to this machine (DNS rebinding) gets nothing from it.

Served: `localhost` (and `*.localhost`, which browsers resolve to loopback themselves); the
address the gateway listens on; on loopback any loopback address; on a wildcard address
(0.0.0.0, ::) any IP address and this machine's host name (an IP address cannot be
rebound, a name can); and the names passed as `allowed` (a tunnel's, say).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

_WILDCARDS = {"0.0.0.0", "::", ""}


class HostCheck:
    def __init__(self, bound_host: str, allowed: tuple[str, ...] = ()) -> None:
        self.bound = bound_host.strip("[]").lower()
        names = {"localhost", self.bound, *(name.lower() for name in allowed)}
        if self.bound in _WILDCARDS:
            names.add(socket.gethostname().lower())  # no DNS lookup: getfqdn() could stall the start
        self.names = frozenset(names)

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        try:
            name = urlsplit(f"//{host_header.strip()}").hostname
        except ValueError:
            return False
        if not name:
            return False
        if name in self.names or name.endswith(".localhost"):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if self.bound in _WILDCARDS:
            return True
        return address.is_loopback and _is_loopback(self.bound)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
