"""A pure ASGI guard: a query parameter given twice is a 422.

No API endpoint takes a list in its query string, and FastAPI reads a repeated scalar parameter as its
last value, so `?predicted_label=positive&predicted_label=negative` silently listed the negative reviews
only. A client that meant "either" learns it at once instead. Requests without a query string, such as
every create, pass without any parsing.
"""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send


class RepeatedQueryParameters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            counts = Counter(key for key, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
            repeated = sorted(key for key, count in counts.items() if count > 1)
            if repeated:
                errors = [
                    {"field": f"query.{key}", "message": "given more than once; send it once"} for key in repeated
                ]
                body = json.dumps(
                    {"detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors), "errors": errors}
                ).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 422, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
