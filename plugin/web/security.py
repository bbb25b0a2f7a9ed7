"""Who may use ``photoplug serve``: the Host check, the token, and the security headers.

A web page the user visits can make its own host name resolve to 127.0.0.1 (DNS
rebinding) and then read the page's API as same-origin; it cannot make the browser send
a Host header other than its own name. So every request must name, with the exact port,
an address the server listens on (an IP literal is checked against the address the
connection arrived at), ``localhost``, or a name the user allowed. When the page is
shared beyond loopback a token is required too, as Jupyter does: given once in the URL,
then kept in an HttpOnly, SameSite=Strict cookie; the redirect that sets it drops the
token from the address and keeps the rest (the page keeps its search there).
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoplug.errors import PhotoplugError

_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str) -> IPAddress | None:
    """The address ``text`` spells (IPv4-mapped IPv6 as IPv4), None for a name."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the page on this machine."""
    address = _ip(host)
    return host.lower() == "localhost" if address is None else address.is_loopback


def own_token(token: str | None) -> str | None:
    """A token the user chose (None, or empty: none), checked to be safe in a URL and a
    cookie, and long enough."""
    if token and not re.fullmatch(r"[A-Za-z0-9_-]{16,}", token):
        raise PhotoplugError("the token must be at least 16 letters, digits, '-' or '_'")
    return token or None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Access:
    """The Host names the page answers to (besides the connection's own address) and the
    token it requires (None: none, loopback only)."""

    host: str
    port: int
    names: frozenset[str]
    token: str | None

    @classmethod
    def create(cls, host: str, port: int, allow_hosts: Iterable[str] = (),
               token: str | None = None) -> Access:
        """Access for a server listening on ``host:port``: a random token unless it stays
        on loopback (or ``token`` is given); on all interfaces this machine's name too."""
        names = {"localhost", *(name.lower() for name in allow_hosts)}
        address = _ip(host)
        if address is None:
            names.add(host.lower())
        elif address.is_unspecified:
            names.add(socket.gethostname().lower())
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(32)
        return cls(host, port, frozenset(names), token)

    @property
    def cookie(self) -> str:
        return f"photoplug-token-{self.port}"  # cookies ignore ports: one per server

    def urls(self) -> list[str]:
        """Where to open the page (on all interfaces: by this machine's name, and locally)."""
        address = _ip(self.host)
        hosts = [self.host]
        if address is not None and address.is_unspecified:
            loopback = "::1" if address.version == 6 else "127.0.0.1"
            hosts = [socket.gethostname(), loopback]
        query = f"?token={self.token}" if self.token else ""
        return [f"http://{_url_host(h)}:{self.port}/{query}" for h in hosts]

    def host_allowed(self, header: str, local_address: str | None) -> bool:
        """Whether a Host header names this server: the exact port, and a name allowed or
        the IP address the connection arrived at."""
        match = _HOST.fullmatch(header.lower())
        if match is None or int(match.group(2) or 80) != self.port:
            return False
        name = match.group(1).strip("[]")
        address = _ip(name)
        if address is None:
            return name in self.names
        return local_address is not None and address == _ip(local_address)

    def token_given(self, request: Request) -> bool:
        """Whether the request carries the token: header, ``?token=`` or cookie."""
        assert self.token is not None
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = [value.strip() if scheme.lower() in ("token", "bearer") else "",
                 request.query_params.get("token", ""), request.cookies.get(self.cookie, "")]
        expected = self.token.encode()
        return any(secrets.compare_digest(g.encode(), expected) for g in given if g)

    def check(self, request: Request) -> Response | None:
        """None to let the request through; else a refusal, or on the first visit the
        redirect that moves the token from the URL into a cookie."""
        server = request.scope.get("server")
        if not self.host_allowed(request.headers.get("host", ""), server[0] if server else None):
            return _refuse(request, "photoplug serve does not answer to this host name: open "
                                    "the address it printed (or start it with --allow-host "
                                    "NAME)")
        if self.token is None:
            return None
        if not self.token_given(request):
            return _refuse(request, "this page needs its token: open the URL that photoplug "
                                    "serve printed (it ends in ?token=...)")
        if request.url.path == "/" and "token" in request.query_params:
            # the page's own state (a search) stays in the address; the token never does
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            entered = RedirectResponse("/" + (f"?{urlencode(rest)}" if rest else ""),
                                       status_code=303)
            entered.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
            return entered
        return None


def _refuse(request: Request, sentence: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": sentence}, status_code=403)
    return PlainTextResponse(sentence, status_code=403)


def content_security_policy(page: str) -> str:
    """Only this origin, plus the page's own inline ``<script>`` and ``<style>`` by hash."""
    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
                        for b in bodies)
    return (f"default-src 'self'; script-src 'self' {hashes('script')}; "
            f"style-src 'self' {hashes('style')}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


class Guard:
    """ASGI middleware: ``Access.check`` on every HTTP request, and the security headers
    (CSP, nosniff, no referrer) on every response, refusals included."""

    def __init__(self, app: ASGIApp, access: Access, csp: str) -> None:
        self.app = app
        self.access = access
        self.headers = [(b"content-security-policy", csp.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        refusal = self.access.check(Request(scope))
        await (refusal or self.app)(scope, receive, send_with_headers)
