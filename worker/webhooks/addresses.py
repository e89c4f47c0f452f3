"""Which webhook targets may be reached: public addresses only, unless private ones are allowed.

Checked twice: at start on the URL's shape (:func:`check_url`) and at every connection on each address the
host resolves to (:func:`resolve`), and the connection then goes to a checked address — so a name that
resolves to a public address at start and to 127.0.0.1 later (DNS rebinding) is refused at connect time.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValueError):
    """The target is not allowed (private address, bad scheme, no host); the message names no address."""


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, shared, reserved or multicast."""
    ip = _unmapped(ip)
    return ip.is_global and not ip.is_multicast


def is_loopback(ip: IPAddress) -> bool:
    return _unmapped(ip).is_loopback


def literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allow_private: bool) -> SplitResult:
    """The URL's parts if its shape is acceptable: https (http only to a loopback target when private
    targets are allowed), a host, no credentials, and a literal address that passes :func:`allowed`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise RefusedTarget("use an https:// URL")
    if not parts.hostname:
        raise RefusedTarget("the URL has no host")
    if parts.username or parts.password:
        raise RefusedTarget("credentials in the URL are refused: the signature authenticates the sender")
    try:
        parts.port  # noqa: B018 — raises on a bad port
    except ValueError:
        raise RefusedTarget("the URL's port is not a number between 0 and 65535") from None
    ip = literal(parts.hostname)
    if scheme == "http" and not (allow_private and (parts.hostname == "localhost" or (ip and is_loopback(ip)))):
        raise RefusedTarget("http:// is accepted only to a loopback address with MEDIFLUX_WEBHOOK_ALLOW_PRIVATE=1")
    if ip is not None and not allowed(ip, allow_private):
        raise RefusedTarget("private or loopback address refused (MEDIFLUX_WEBHOOK_ALLOW_PRIVATE=1 allows it)")
    return parts


def allowed(ip: IPAddress, allow_private: bool) -> bool:
    return is_public(ip) or (allow_private and not _unmapped(ip).is_multicast)


def resolve(host: str, port: int, allow_private: bool, *, http: bool = False) -> list[IPAddress]:
    """Every address ``host`` resolves to, all checked; refused if any is not allowed (a name that also
    points inside is not trusted for its public half), or, for http, if any is not loopback."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedTarget("the webhook host does not resolve") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise RefusedTarget("the webhook host does not resolve")
    for ip in found:
        if not allowed(ip, allow_private):
            raise RefusedTarget("the webhook host resolves to a private or loopback address")
        if http and not is_loopback(ip):
            raise RefusedTarget("http:// is accepted only to a loopback address")
    return found
