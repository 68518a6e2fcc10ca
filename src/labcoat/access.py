"""Who may reach a labcoat server: loopback names, tokens, Host headers, origins of writes.

One guard (`AccessGuard`) for the dashboard and the archive service, which
follow one rule: bound to loopback, the server is the user's own (and
refuses foreign Host names against DNS rebinding); bound anywhere else,
every request needs the token printed at start. Writes must come from the
server's own origin (against cross-site request forgery).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def host_name(host_header: str) -> str:
    """'127.0.0.1:8766' -> '127.0.0.1'; '[::1]:8766' -> '::1'."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def origin_of(url: str) -> str | None:
    """'http://127.0.0.1:8766/path' -> 'http://127.0.0.1:8766'; None for 'null' or a malformed value."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class Service:
    """How one server speaks when it refuses: its name, where its token comes from, its error format."""

    name: str  # "dashboard", "archive"
    token_help: str  # how to get and send the token
    json_errors: bool = False
    cookie: str | None = None  # `?token=` once sets this cookie (pages a browser opens)
    json_writes: bool = False  # state-changing requests must send Content-Type: application/json


class AccessGuard:
    """ASGI middleware over both servers: who may talk to it, and that writes come from its own pages.

    Bound to loopback (`token` None) the Host must be a loopback name (against DNS rebinding); bound
    anywhere else every request needs the token. Every state-changing request (not GET/HEAD/OPTIONS)
    must also come from the server's own origin when a browser says where it comes from (Origin, else
    Referer), and, for JSON services, carry a JSON content type, which a page on another origin cannot
    send without the browser asking first (a CORS preflight this server never grants).
    """

    def __init__(self, app, *, token: str | None, service: Service):
        self.app = app
        self.token = token
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._who(scope, headers)
        if refusal is None and scope.get("method", "GET").upper() not in SAFE_METHODS:
            refusal = self._write(scope, headers)
        if refusal is not None:
            return await self._refuse(send, *refusal)
        return await self.app(scope, receive, send)

    def _who(self, scope, headers: dict[str, str]):
        name = self.service.name
        if self.token is None:
            if host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
                return 421, (f"this {name} answers only to localhost / 127.0.0.1; "
                             "bind it with --host to serve other machines"), []
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if given is not None and _same(given, self.token):
            if self.service.cookie is None:
                return None
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{self.service.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return 303, "token accepted", [("location", location), ("set-cookie", cookie)]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and _same(auth[7:].strip(), self.token):
            return None
        if self.service.cookie and _same(_cookie(headers, self.service.cookie) or "", self.token):
            return None
        presented = given is not None or auth.lower().startswith("bearer ") or (
            self.service.cookie is not None and _cookie(headers, self.service.cookie) is not None)
        what = "a wrong access token" if presented else "no access token"
        return 401, f"this {name} needs its access token (the request had {what}): {self.service.token_help}", []

    def _write(self, scope, headers: dict[str, str]):
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '').lower()}"
        claimed = headers.get("origin") or headers.get("referer")
        if claimed is not None and origin_of(claimed) != own:
            return 403, (f"cross-origin write refused: this {self.service.name} accepts changes only from its "
                         f"own pages ({own}), not from {claimed[:200]}"), []
        if self.service.json_writes:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/json":
                return 415, (f"this {self.service.name} accepts writes as JSON only: send "
                             "Content-Type: application/json"), []
        return None

    async def _refuse(self, send, status: int, message: str, extra: list[tuple[str, str]]) -> None:
        if self.service.json_errors:
            body, kind = json.dumps({"error": message}).encode("utf-8"), b"application/json"
        else:
            body, kind = (message + "\n").encode("utf-8"), b"text/plain; charset=utf-8"
        head = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        if status == 401:
            head.append((b"www-authenticate", f'Bearer realm="labcoat {self.service.name}"'.encode()))
        head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})


def _same(given: str, token: str) -> bool:
    return secrets.compare_digest(given.encode(), token.encode())


def _cookie(headers: dict[str, str], name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None
