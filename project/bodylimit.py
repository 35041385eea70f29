"""A pure ASGI guard on request body size, for the API and for the Django pages.

A Content-Length over the limit is answered 413 at once, before anything reads the body. A body
without Content-Length (chunked) is counted while the application reads it, and cut with 413
when it goes over. The limit is read from settings on every request, so tests can change it.

The pages need the guard as much as the API: Django's ASGI handler spools the whole body to a
temporary file before any view or DATA_UPLOAD_MAX_MEMORY_SIZE check runs. And FastAPI reads and
parses a JSON body before the token check, so without a limit an anonymous client could make the
server parse any amount of JSON.
"""

from __future__ import annotations

import json

from django.conf import settings
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from receive(). FastAPI re-raises HTTPExceptions met while reading the body, so the
    API's exception handler answers it as JSON; anything else gets the guard's own 413."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            status_code=413,
            detail=f"The request body is larger than the limit of {limit:,} bytes ({setting}); "
            "send fewer or shorter items per request",
        )


class BodySizeLimit:
    """`setting` names the limit; `paths` maps a path (exactly, e.g. an upload form's) to another setting."""

    def __init__(self, app: ASGIApp, *, setting: str, paths: dict[str, str] | None = None) -> None:
        self.app = app
        self.setting = setting
        self.paths = paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        setting = self.paths.get(scope["path"], self.setting)
        limit = getattr(settings, setting)
        if limit is None:
            await self.app(scope, receive, send)
            return
        content_length = _content_length(scope)
        if content_length is not None:
            if content_length > limit:
                await _send_413(send, BodyTooLarge(limit, setting))
                return
            # The server stops the body at Content-Length: nothing left to count.
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _send_413(send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, exc: BodyTooLarge) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
