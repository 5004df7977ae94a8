"""Refuse request bodies over `MAX_BODY_BYTES` with 413, before they are read into memory.

A body that declares its length (`Content-Length`) is refused unread; a chunked one as soon
as the bytes received pass the limit. A catalogue for review (`PUT /v1/review/catalogue`) may
be larger, up to `MAX_CATALOGUE_BYTES`. (FastAPI 0.165 has its own `max_body_size`; this works
with every version the package allows.)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from langchain_course_skills.service.schemas import (
    CATALOGUE_PATH,
    MAX_MAP_COURSES,
    MAX_TEXT_CHARS,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large(limit: int, path: str = "") -> str:
    """The detail of a 413 answer."""
    if path == CATALOGUE_PATH:
        return (
            f"the catalogue upload is larger than {limit:,} bytes; review the catalogue in "
            "parts of fewer courses, one upload each"
        )
    return (
        f"the request body is larger than {limit:,} bytes; send at most {MAX_MAP_COURSES} "
        f"courses of at most {MAX_TEXT_CHARS:,} characters each per request (a whole "
        "catalogue: `course-skills map`)"
    )


class BodyLimit:
    """ASGI middleware: answer 413 to a body over `limit` bytes (`path_limits` per path)."""

    def __init__(
        self, app: ASGIApp, limit: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.path_limits.get(path, self.limit)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer_413(send, limit, path)
            return
        received = 0
        over = False

        async def limited() -> Message:
            # Past the limit the body ends there: nothing more is read into memory, and the
            # app's answer (a parse error of the cut body) is replaced by the 413.
            nonlocal received, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def answer(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await _answer_413(send, limit, path)

        await self.app(scope, limited, answer)


async def _answer_413(send: Send, limit: int, path: str) -> None:
    body = json.dumps({"detail": too_large(limit, path)}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
