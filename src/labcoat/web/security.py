"""Who may use the dashboard: loopback by default, a token everywhere else.

Bound to a loopback address, the dashboard is the user's own; it still
refuses other Host names (a DNS-rebinding page could otherwise read it).
Bound anywhere else, every request must carry the token printed at start:
an `Authorization: Bearer` header, or `?token=` once, which sets a cookie.
Gate answers also need the page's form token, and every write must come from
the dashboard's own origin (`labcoat.access.AccessGuard` does both checks of
the request itself).
"""

from __future__ import annotations

from labcoat.access import Service

COOKIE = "labcoat_token"
DASHBOARD = Service("dashboard", "open the URL that `labcoat serve` printed (it ends in ?token=...)", cookie=COOKIE)


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
