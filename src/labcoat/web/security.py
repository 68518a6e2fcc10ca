"""Who may use the dashboard: loopback by default, a token everywhere else.

Bound to a loopback address, the dashboard is the user's own; it still
refuses other Host names (a DNS-rebinding page could otherwise read it).
Bound anywhere else, every request must carry the token printed at start:
an `Authorization: Bearer` header, or `?token=` once, which sets a cookie.
Gate answers also need the page's form token, so another site cannot post one.
"""

from __future__ import annotations

import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from labcoat.access import LOOPBACK_NAMES, host_name as _host_name, is_loopback, new_token  # noqa: F401

COOKIE = "labcoat_token"


class AccessGuard:
    """ASGI middleware: the Host check on loopback, the token check elsewhere."""

    def __init__(self, app, *, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is None:
            if _host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
                return await _plain(send, 421, "this dashboard answers only to localhost / 127.0.0.1")
            return await self.app(scope, receive, send)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if "token" in query and secrets.compare_digest(query["token"], self.token):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return await _plain(send, 303, "token accepted", [("location", location), ("set-cookie", cookie)])
        if self._presented(headers):
            return await self.app(scope, receive, send)
        return await _plain(send, 401, "this dashboard needs its access token: open the URL that "
                                       "`labcoat serve` printed (it ends in ?token=...)")

    def _presented(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and secrets.compare_digest(auth[7:].strip(), self.token or ""):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and secrets.compare_digest(morsel.value, self.token or "")


async def _plain(send, status: int, text: str, extra: list[tuple[str, str]] | None = None) -> None:
    body = (text + "\n").encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class PageHeaders:
    """ASGI middleware: a strict Content-Security-Policy and friends on every HTML page."""

    def __init__(self, app, *, csp: str):
        self.app = app
        self.extra = [(b"content-security-policy", csp.encode()), (b"x-frame-options", b"SAMEORIGIN"),
                      (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers += [(k, v) for k, v in self.extra if k not in names]
                    message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)
