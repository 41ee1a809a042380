"""What went wrong between the hub and GitHub, in its own words.

A hub on a LAN meets every way a network fails: no DNS, no route, a refused or reset
connection, TLS that fails (a network that intercepts connections, or a clock far off),
and a captive portal answering every address with its login page. Each gets a message
that names it and what to do, not a generic download error.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

# The first bytes of a page a captive portal (or any web server) sends instead of a file.
_WEB_PAGE_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: requests wraps urllib3, which wraps the socket's
    error, in ``__cause__``, ``__context__``, ``reason`` or ``args`` (urllib3 1.26 and 2)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += list(current.args)


def describe_transport_failure(url: str, exc: BaseException) -> tuple[str, str]:
    """What failed reaching ``url``, and what to do: (message, hint)."""
    host = urlsplit(url).hostname or url
    causes = list(_causes(exc))
    names = " ".join(f"{type(c).__name__} {c}" for c in causes)
    if any(isinstance(c, ssl.SSLError) for c in causes) or "SSLError" in names:
        return (
            f"the secure connection to {host} failed ({_ssl_reason(causes)})",
            "a network that intercepts connections (a proxy or a captive portal) does this,"
            " and so does a clock far off: check the hub's date",
        )
    if any(isinstance(c, socket.gaierror) for c in causes) or "NameResolution" in names:
        return (
            f"cannot find {host}: the name does not resolve",
            "is the hub online, and does its network give it a DNS server?",
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return (f"{host} refused the connection", "is a proxy or firewall in the way?")
    unreachable = {errno.ENETUNREACH, errno.EHOSTUNREACH}
    if any(isinstance(c, OSError) and c.errno in unreachable for c in causes):
        return (f"no route to {host}", "the hub is not online")
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return (f"{host} reset the connection", "the network dropped it; try again")
    return (f"cannot reach {host} ({type(exc).__name__})", "is the hub online?")


def _ssl_reason(causes: list[BaseException]) -> str:
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError) and cause.reason:
            return str(cause.reason).lower().replace("_", " ")
    return "TLS"


def looks_like_a_web_page(head: bytes) -> bool:
    """Whether ``head``, the first bytes of what came for a file, is a web page."""
    return head.lstrip().lower().startswith(_WEB_PAGE_STARTS)


def web_page_instead(what: str) -> tuple[str, str]:
    """The message for a web page where ``what`` should have been: (message, hint)."""
    return (
        f"the network answered with a web page instead of {what}:"
        " is the hub behind a captive portal?",
        "log in to the network (its page opens in a browser on the same network),"
        " then check again; nothing was changed",
    )
