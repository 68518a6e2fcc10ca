"""The gateway's HTTP routes (Starlette): OpenAI chat completions, Anthropic messages, the model list.

A request is matched to its program by the socket it came on (each program
has its own) or else by the bearer token (`Authorization` or Anthropic's
`x-api-key`); an unknown token gets 401 and nothing else. Every
refusal is JSON in OpenAI's error shape with a reason the program can print,
is added to the program's record, and is logged in the run; nothing a program
sends can stop the gateway. Limit refusals carry `x-should-retry: false` so
the SDKs do not retry them. The call itself runs in a worker thread (the LLM
layer blocks); a program's calls beyond its `max_concurrent` wait their turn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from labcoat.gateway.calls import ExperimentCalls, Grant
from labcoat.gateway.wire import (Refused, anthropic_response, from_anthropic, from_openai, openai_response,
                                  openai_stream)

MAX_BODY = 8 * 1024 * 1024


def _refusal(refusal: Refused) -> JSONResponse:
    return JSONResponse(refusal.body(), status_code=refusal.status, headers={"x-should-retry": "false"})


def create_app(calls: ExperimentCalls, grant_for: Callable[[str], Grant | None],
               log: Callable[[str, dict], None], grant_on: Callable[[str], Grant | None]) -> Starlette:
    def authorised(request: Request) -> Grant:
        server = request.scope.get("server")
        if server and isinstance(server[0], str) and server[1] is None:
            own = grant_on(server[0])  # the program's own socket: it is the credential
            if own is not None:
                return own
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        grant = grant_for(token) if token else None
        if grant is None:
            raise Refused(401, "unknown or expired token: this gateway answers only the programs labcoat is "
                               "running, each with the token in its own environment", kind="authentication_error")
        return grant

    async def body_of(request: Request) -> Any:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                raise Refused(413, f"the request body is over {MAX_BODY // (1024 * 1024)} MB")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(400, f"the request body is not valid JSON ({exc})") from None

    async def answer(request: Request, parse, render) -> Response:
        grant = None
        try:
            grant = authorised(request)
            chat = parse(await body_of(request), grant.allowed, grant.max_tokens)
            if grant.slots is None:  # made in the event loop's one thread: no race
                grant.slots = asyncio.Semaphore(grant.max_concurrent)
            async with grant.slots:
                raw = await run_in_threadpool(calls.call, grant, chat)
            return render(raw, chat)
        except Refused as refusal:
            if grant is not None:
                grant.refuse(refusal)
            log(refusal.message, {"program": grant.program if grant else None, "status": refusal.status,
                                  "refusal": refusal.kind})
            return _refusal(refusal)

    async def chat_completions(request: Request) -> Response:
        streamed: dict[str, Any] = {}

        def parse(body, allowed, cap):
            if isinstance(body, dict):
                options = body.get("stream_options")
                streamed["stream"] = body.get("stream") is True
                streamed["usage"] = isinstance(options, dict) and bool(options.get("include_usage"))
            return from_openai(body, allowed, cap)

        def render(raw, chat):
            if streamed.get("stream"):
                return StreamingResponse(iter(openai_stream(raw, raw["call_id"], chat["model"], streamed["usage"])),
                                         media_type="text/event-stream")
            return JSONResponse(openai_response(raw, raw["call_id"], chat["model"]))

        return await answer(request, parse, render)

    async def messages(request: Request) -> Response:
        return await answer(request, from_anthropic,
                            lambda raw, chat: JSONResponse(anthropic_response(raw, raw["call_id"], chat["model"])))

    async def models(request: Request) -> Response:
        try:
            grant = authorised(request)
        except Refused as refusal:
            return _refusal(refusal)
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                         "owned_by": "labcoat"} for m in grant.allowed]})

    async def not_found(request: Request) -> Response:
        return _refusal(Refused(404, f"no route {request.method} {request.url.path}: the gateway serves POST "
                                     "/v1/chat/completions, POST /v1/messages and GET /v1/models",
                                kind="not_found"))

    routes = [Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/messages", messages, methods=["POST"]),
              Route("/v1/models", models, methods=["GET"]),
              Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])]
    return Starlette(routes=routes)
