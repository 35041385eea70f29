"""Swagger UI for /api/docs that works offline: its JavaScript, CSS and favicon come from this server.

FastAPI's own docs page loads Swagger UI from a CDN (jsdelivr) and its favicon from fastapi.tiangolo.com,
so without internet the page stays blank. The files come from the installed fastapi-offline wheel (the
swagger-ui dist, no copy in the repository) and are served by the API app itself, under /api: the docs
page then works the same in the combined process (project.asgi) and in the sidecar (`project.api:app`),
which has no /static. Like /api/docs and /api/openapi.json, they are public (no token).
"""

from __future__ import annotations

import functools
from importlib import metadata, resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

DOCS_URL = "/api/docs"
# Under /api, so project.asgi sends it to this app (FastAPI's default, /docs/oauth2-redirect, reached Django).
OAUTH2_REDIRECT_URL = "/api/docs/oauth2-redirect"
ASSETS_VERSION = metadata.version("fastapi-offline")
# The version is in the URL, so browsers may keep a file for a year: an upgrade changes the URL.
ASSETS_URL = f"{DOCS_URL}/assets/{ASSETS_VERSION}"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
SWAGGER_UI_PARAMETERS = {
    # Swagger UI's default sends the schema to validator.swagger.io for a badge: nothing leaves this host.
    "validatorUrl": None,
}


@functools.cache
def _asset_bytes(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


async def swagger_ui_asset(request: Request) -> Response:
    """One of the few Swagger UI files (never any other file of the package), read once per process."""
    version, name = request.path_params["version"], request.path_params["name"]
    if version != ASSETS_VERSION or name not in ASSETS:
        raise HTTPException(status_code=404)
    return Response(
        _asset_bytes(name),
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def install(app: FastAPI) -> None:
    """Adds /api/docs, its OAuth2 redirect page and its files to `app`, built with docs_url=None."""

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        assets = root_path + ASSETS_URL
        return get_swagger_ui_html(
            openapi_url=root_path + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            oauth2_redirect_url=root_path + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_URL, swagger_ui_html, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, swagger_ui_redirect, include_in_schema=False)
    app.add_route(f"{DOCS_URL}/assets/{{version}}/{{name}}", swagger_ui_asset, include_in_schema=False)
