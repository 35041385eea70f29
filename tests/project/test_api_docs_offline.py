"""/api/docs works without internet (issue 17): every file of the page comes from this server."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from project import apidocs

BASE = "http://testserver"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class AssetLinks(HTMLParser):
    """The URLs a browser loads for the page: <script src>, <link href> (stylesheet, icon), <img src>."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) and tag in ("script", "link", "img"):
                self.urls.append(attrs[name])


def asset_urls(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def docs(api):
    response = api.get("/api/docs")
    assert response.status_code == 200
    return response


def test_it_loads_swagger_ui_only_from_this_server(docs):
    urls = asset_urls(docs.text)

    assert len(urls) == 3  # the script, the stylesheet and the favicon
    assert [url for url in urls if urlsplit(urljoin(BASE, url)).netloc != "testserver"] == []
    assert {urlsplit(url).path.rsplit("/", 1)[-1] for url in urls} == set(apidocs.ASSETS)


def test_it_names_no_cdn_and_no_validator(docs):
    html = docs.text.lower()

    for word in ("cdn", "jsdelivr", "unpkg", "validator.swagger.io", "fastapi.tiangolo.com", "fonts.googleapis"):
        assert word not in html
    assert '"validatorUrl": null' in docs.text


def test_each_file_of_the_page_answers_with_its_content_type(api, docs):
    for url in asset_urls(docs.text):
        response = api.get(url)

        assert response.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
        assert len(response.content) > 1000, url
        assert "immutable" in response.headers["cache-control"]


def test_the_files_are_public(api, docs):
    url = asset_urls(docs.text)[0]

    assert api.get(url, headers={"Authorization": "Token not-a-real-key"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/docs/assets/0.0.0/swagger-ui-bundle.js",  # another version
        f"/api/docs/assets/{apidocs.ASSETS_VERSION}/core.py",  # a file of the package that is no asset
        f"/api/docs/assets/{apidocs.ASSETS_VERSION}/..%2F__init__.py",
        f"/api/docs/assets/{apidocs.ASSETS_VERSION}/redoc.standalone.js",
    ],
)
def test_it_serves_no_other_file(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_the_page_loads_the_openapi_document_that_answers(api, docs):
    assert "url: '/api/openapi.json'" in docs.text
    schema = api.get("/api/openapi.json").json()

    assert "/api/reviews/" in schema["paths"]
    assert not any(path.startswith("/api/docs") for path in schema["paths"])


def test_the_oauth2_redirect_page_is_served_under_api(api, docs):
    assert "oauth2RedirectUrl: window.location.origin + '/api/docs/oauth2-redirect'" in docs.text
    response = api.get("/api/docs/oauth2-redirect")

    assert response.status_code == 200
    assert "swaggerUIRedirectOauth2" in response.text
    assert asset_urls(response.text) == []


def test_the_sidecar_serves_the_page_and_its_files_too():
    """`uvicorn project.api:app` alone (docker-compose's api service) has no Django /static: same page."""
    from fastapi.testclient import TestClient

    from project.api import app

    sidecar = TestClient(app)
    docs = sidecar.get("/api/docs")

    assert docs.status_code == 200
    assert [sidecar.get(url).status_code for url in asset_urls(docs.text)] == [200, 200, 200]
    assert sidecar.get("/api/docs/oauth2-redirect").status_code == 200
