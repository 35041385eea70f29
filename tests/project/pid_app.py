"""A tiny ASGI app for tests/project/test_serve.py: answers its worker's pid; each lifespan startup
appends the pid to the file $PID_APP_STARTS."""

from __future__ import annotations

import os


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if path := os.environ.get("PID_APP_STARTS"):
                    with open(path, "a") as starts:
                        starts.write(f"{os.getpid()}\n")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
