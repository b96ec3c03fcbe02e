"""/docs and /redoc of a covetpy app (`--interface covet`) work with no internet access: the pages
load Swagger UI and ReDoc from the copies covetpy ships (covetpy/static), the server serves those
with long-lived cache headers and ETags, and headless Chromium, with every host but 127.0.0.1
unresolvable, renders the app's operations from them. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from chromium import PageLoad, browser, find_or_install_chromium
from conftest import REPO_ROOT, Server, ServerFactory

STATIC = REPO_ROOT / "crates" / "embed" / "python" / "covetpy" / "static"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
OPERATIONS = {
    "/pets/{pet_id}": "Read one pet",
    "/pets": "Create a pet",
    "/store/inventory": "Count the stock",
}
# ReDoc's sidebar footer ("API docs by Redocly") always asks its maker's CDN for a logo and hides the
# image when that fails; it is the only request either page makes to another host.
REDOC_BRANDING_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("docs_app:app", "--interface", "covet")


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why_not = find_or_install_chromium()
    if path is None:
        pytest.skip(why_not)
    return path


def get(server: Server, path: str, **kwargs: object) -> requests.Response:
    return requests.get(server.url(path), timeout=30, **kwargs)  # type: ignore[arg-type]


def referenced(html: str) -> list[str]:
    """Every URL a page's tags load (scripts, styles, icons) or point ReDoc at."""
    return [m.replace("&amp;", "&") for m in re.findall(r'\b(?:src|href|spec-url)="([^"]*)"', html)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_manifest_lists_every_shipped_file_with_its_digest() -> None:
    manifest = json.loads((STATIC / "manifest.json").read_text())
    on_disk = {p.name for p in STATIC.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        assert sha256((STATIC / name).read_bytes()) == entry["sha256"], (
            f"{name} changed; re-run the vendor script"
        )
    assert manifest["packages"]["swagger-ui-dist"]["version"].startswith("5.")
    assert manifest["packages"]["redoc"]["version"].startswith("2.")
    for package in manifest["packages"].values():
        assert package["integrity"].startswith("sha512-")
    for licence in ("LICENSE-swagger-ui-dist.txt", "NOTICE-swagger-ui-dist.txt", "LICENSE-redoc.txt"):
        assert (STATIC / licence).stat().st_size > 0


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_load_only_what_the_server_serves(server: Server, page: str) -> None:
    response = get(server, page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.findall(r"https?://", html), "the page refers to another host"
    urls = referenced(html)
    assets = [u for u in urls if "/static/" in u]
    expected = {
        "/docs": {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.svg"},
        "/redoc": {"redoc.standalone.js", "favicon.svg"},
    }
    assert {urlsplit(u).path.rsplit("/", 1)[1] for u in assets} == expected[page]
    for url in urls:
        assert url.startswith("/"), url
        fetched = requests.get(urljoin(server.base_url, url), timeout=30)
        assert fetched.status_code == 200, url
    for url in assets:
        path = urlsplit(url).path
        assert path.startswith(f"{page}/static/")
        name = path.rsplit("/", 1)[1]
        fetched = requests.get(urljoin(server.base_url, url), timeout=30)
        assert fetched.headers["content-type"] == CONTENT_TYPES[Path(name).suffix], url
        # The bytes the binary serves (from the package embedded in it) are the shipped file's.
        assert sha256(fetched.content) == sha256((STATIC / name).read_bytes()), url
        assert urlsplit(url).query == f"v={sha256(fetched.content)[:16]}"


def test_assets_are_cached_for_long_and_revalidate_with_etag(server: Server) -> None:
    response = get(server, "/docs/static/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    assert etag == f'"{sha256(response.content)[:32]}"'
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = get(server, "/docs/static/swagger-ui-bundle.js", headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    changed = get(server, "/docs/static/swagger-ui-bundle.js", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    assert len(changed.content) == len(response.content)
    head = requests.head(server.url("/redoc/static/redoc.standalone.js"), timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == CONTENT_TYPES[".js"]


def test_licence_notices_are_served_beside_the_bundles(server: Server) -> None:
    for path in (
        "/docs/static/swagger-ui-bundle.js.LICENSE.txt",
        "/redoc/static/redoc.standalone.js.LICENSE.txt",
    ):
        response = get(server, path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.content == (STATIC / path.rsplit("/", 1)[1]).read_bytes()


def test_asset_routes_stay_out_of_the_openapi_document(server: Server) -> None:
    document = get(server, "/openapi.json").json()
    assert set(document["paths"]) == set(OPERATIONS)


def test_unknown_asset_is_not_found(server: Server) -> None:
    assert get(server, "/docs/static/nope.js").status_code == 404
    assert get(server, "/docs/static/manifest.json").status_code == 404


def test_root_path_prefixes_every_page_url(start_server: ServerFactory) -> None:
    server = start_server("docs_app:app", "--interface", "covet", "--root-path", "/api")
    html = get(server, "/docs").text
    urls = referenced(html)
    assert "/api/openapi.json" in html
    assert urls and all(u.startswith("/api/docs/static/") for u in urls), urls
    redoc = get(server, "/redoc").text
    assert 'spec-url="/api/openapi.json"' in redoc
    assert all(u.startswith(("/api/redoc/static/", "/api/openapi.json")) for u in referenced(redoc))
    # Behind a proxy that strips the prefix, the server sees the path without it.
    for url in urls + referenced(redoc):
        stripped = url.removeprefix("/api")
        assert requests.get(server.url(stripped), timeout=30).status_code == 200, stripped


def test_other_docs_paths_and_user_chosen_urls(start_server: ServerFactory) -> None:
    server = start_server("docs_app:custom", "--interface", "covet")
    html = get(server, "/documentation").text
    assets = [u for u in referenced(html) if "/static/" in u]
    assert assets and all(u.startswith("/documentation/static/") for u in assets)
    for url in assets:
        assert requests.get(server.url(url), timeout=30).status_code == 200, url
    # ReDoc is off: neither its page nor its assets are served; nor is anything under /docs.
    for path in ("/redoc", "/redoc/static/redoc.standalone.js", "/docs", "/docs/static/swagger-ui-bundle.js"):
        assert get(server, path).status_code == 404, path
    # A user who names other script URLs gets exactly those.
    cdn = get(server, "/cdn-docs").text
    assert '<script src="https://cdn.example.test/swagger-ui-bundle.js">' in cdn
    assert 'href="https://cdn.example.test/swagger-ui.css"' in cdn
    # Google Fonts only when asked for.
    assert "fonts.googleapis.com" in get(server, "/fonts-redoc").text
    assert "fonts.googleapis.com" not in get(server, "/documentation").text


def test_package_data_is_readable_through_importlib_resources(start_server: ServerFactory) -> None:
    server = start_server("docs_app:custom", "--interface", "covet")
    seen = get(server, "/package-data").json()
    assert seen == {
        "is_dir": True,
        "names": sorted(p.name for p in STATIC.iterdir()),
        "favicon_is_file": True,
        "favicon": (STATIC / "favicon.svg").read_text(encoding="utf-8"),
        "missing_is_file": False,
    }


def check_offline_load(server: Server, report: PageLoad, allowed_outside: tuple[str, ...] = ()) -> None:
    """Every request went to the server (or was inline data) but the allowed ones, which failed
    since no other host resolves; the page's scripts threw nothing."""
    outside = [u for u in report.requests if not u.startswith((server.base_url + "/", "data:", "blob:"))]
    assert [u for u in outside if u not in allowed_outside] == [], f"the page asked other hosts: {outside}"
    assert len(report.failed) == len(outside), f"requests failed: {report.failed}"
    assert not report.exceptions, f"the page's scripts threw: {report.exceptions}"


def test_swagger_ui_renders_the_operations_offline(server: Server, chromium: str) -> None:
    with browser(chromium) as page:
        report = page.open(
            server.url("/docs"), until=f"document.querySelectorAll('.opblock').length >= {len(OPERATIONS)}"
        )
        paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)")
        summaries = page.evaluate(
            "[...document.querySelectorAll('.opblock-summary-description')].map(e => e.innerText)"
        )
        title = page.evaluate("document.querySelector('.info .title').innerText")
        shot = page.screenshot(ARTIFACTS / "docs-swagger-ui.png")
    print(f"screenshot: {shot}")
    assert {p.replace("\u200b", "") for p in paths} == set(OPERATIONS)
    assert set(summaries) == set(OPERATIONS.values())
    assert title.startswith("Pet Shop")
    assert any(u.startswith(server.url("/docs/static/swagger-ui-bundle.js")) for u in report.requests)
    assert server.url("/openapi.json") in report.requests
    check_offline_load(server, report)


def test_redoc_renders_the_operations_offline(server: Server, chromium: str) -> None:
    with browser(chromium) as page:
        summaries = json.dumps(sorted(OPERATIONS.values()))
        report = page.open(
            server.url("/redoc"),
            until=f"{summaries}.every(s => document.body.innerText.includes(s))",
        )
        text = page.evaluate("document.body.innerText")
        logo_shown = page.evaluate("document.querySelector('img[alt=\"redocly logo\"]') !== null")
        headings = page.evaluate("[...document.querySelectorAll('h2')].map(e => e.innerText)")
        shot = page.screenshot(ARTIFACTS / "docs-redoc.png")
    print(f"screenshot: {shot}")
    assert set(OPERATIONS.values()) <= set(headings)
    for path in OPERATIONS:
        assert path in text, path
    assert "Pet Shop" in text
    assert any(u.startswith(server.url("/redoc/static/redoc.standalone.js")) for u in report.requests)
    assert not logo_shown, "the unreachable branding logo should have hidden itself"
    check_offline_load(server, report, allowed_outside=(REDOC_BRANDING_LOGO,))
