"""Who may use the archive: loopback by default, a bearer token everywhere else.

Bound to a loopback address the archive belongs to the user's own machine; it
still refuses other Host names, so a web page that rebinds its DNS name to
127.0.0.1 cannot upload to it. Bound to any other address, every request must
carry the token printed when the server starts: `Authorization: Bearer TOKEN`
or `?token=TOKEN`.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qsl

from labcoat.access import LOOPBACK_NAMES, host_name, is_loopback, new_token  # noqa: F401


def presented_token(headers: dict[str, str], query_string: str) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key == "token":
            return value
    return None


class TokenGuard:
    """ASGI middleware: the Host check when `token` is None, the token check otherwise."""

    def __init__(self, app, *, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is None:
            if host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
                return await _refuse(send, 421, "this archive answers only to localhost / 127.0.0.1; "
                                                "bind it with --host to serve other machines")
            return await self.app(scope, receive, send)
        given = presented_token(headers, scope.get("query_string", b"").decode("latin-1"))
        if given is not None and secrets.compare_digest(given.encode(), self.token.encode()):
            return await self.app(scope, receive, send)
        what = "a wrong access token" if given is not None else "no access token"
        return await _refuse(send, 401, f"this archive needs the access token printed by `labcoat archive "
                                        f"serve` (request had {what}): send `Authorization: Bearer TOKEN` "
                                        f"or set LABCOAT_ARCHIVE_TOKEN for the client")


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="labcoat archive"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
