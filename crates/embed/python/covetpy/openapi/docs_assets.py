"""The Swagger UI and ReDoc files covetpy ships in ``covetpy/static`` (copied from the npm packages
``swagger-ui-dist`` and ``redoc`` by scripts/vendor-docs-assets.sh, plus covetpy's own icon) and the
routes that serve them beside the documentation pages, so ``/docs`` and ``/redoc`` work with no
internet access.

Each asset URL carries ``?v=`` and a digest of the file's content, so a new covetpy with new files
gives new URLs: that is what lets the responses be cached for a year (``immutable``). The ETag is
the same digest, for clients that revalidate anyway."""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: The folder of the shipped files, inside the ``covetpy`` package.
STATIC_FOLDER = "static"

#: The files the Swagger UI page loads (and the bundle's licence notice, which the bundle names).
SWAGGER_UI_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "swagger-ui-bundle.js.LICENSE.txt",
    "favicon.svg",
)
#: The files the ReDoc page loads (and the bundle's licence notice).
REDOC_FILES = ("redoc.standalone.js", "redoc.standalone.js.LICENSE.txt", "favicon.svg")

#: A year, the longest max-age caches are asked to honour (RFC 9111 advice).
_MAX_AGE = 365 * 24 * 60 * 60

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class DocsAsset:
    """One shipped file: its name in ``static/``, its content type and the sha256 of its bytes
    (from ``static/manifest.json``, which the vendor script writes)."""

    name: str
    media_type: str
    sha256: str

    @property
    def etag(self) -> str:
        """The quoted entity tag of the file's responses."""
        return f'"{self.sha256[:32]}"'

    @property
    def version(self) -> str:
        """The ``?v=`` token of the file's URLs: changes whenever the file does."""
        return self.sha256[:16]

    def body(self) -> bytes:
        """The file's bytes, read once per process."""
        return _read(self.name)


def _package_file(name: str) -> importlib.resources.abc.Traversable:
    return importlib.resources.files("covetpy").joinpath(STATIC_FOLDER).joinpath(name)


@functools.cache
def _read(name: str) -> bytes:
    return _package_file(name).read_bytes()


def _load_manifest() -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(_package_file("manifest.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"covetpy's documentation assets are unreadable (covetpy/{STATIC_FOLDER}/manifest.json: {exc}); "
            "the package is incomplete, reinstall it"
        ) from exc
    return manifest


def _assets(manifest: dict[str, Any]) -> dict[str, DocsAsset]:
    assets = {}
    for name, entry in manifest["files"].items():
        suffix = name[name.rfind(".") :]
        if suffix in _MEDIA_TYPES:
            assets[name] = DocsAsset(name=name, media_type=_MEDIA_TYPES[suffix], sha256=entry["sha256"])
    return assets


_MANIFEST = _load_manifest()
#: Every servable shipped file, by name.
ASSETS: dict[str, DocsAsset] = _assets(_MANIFEST)
#: The npm package versions the files come from, ``{"swagger-ui-dist": "5.x.y", "redoc": "2.x.y"}``.
PACKAGE_VERSIONS: dict[str, str] = {name: entry["version"] for name, entry in _MANIFEST["packages"].items()}


def asset_prefix(page_url: str) -> str:
    """Where a documentation page's assets are served: ``/docs`` -> ``/docs/static``."""
    return page_url.rstrip("/") + "/" + STATIC_FOLDER


def asset_url(prefix: str, name: str) -> str:
    """The URL of one asset under ``prefix`` (root_path included by the caller), with its version."""
    return f"{prefix}/{name}?v={ASSETS[name].version}"


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def _endpoint(asset: DocsAsset) -> Callable[[Request], Awaitable[Response]]:
    headers = {"cache-control": f"public, max-age={_MAX_AGE}, immutable", "etag": asset.etag}

    async def serve_asset(request: Request) -> Response:
        if _not_modified(request, asset.etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body(), media_type=asset.media_type, headers=headers)

    return serve_asset


def asset_routes(prefix: str, names: Iterable[str]) -> list[Route]:
    """GET/HEAD routes for the named assets under ``prefix``, one exact path each (so the Rust route
    table stays complete and a user's own routes under the same folder are untouched), kept out of
    the OpenAPI document."""
    return [
        Route(f"{prefix}/{name}", _endpoint(ASSETS[name]), include_in_schema=False, name=f"docs_asset:{name}")
        for name in names
    ]


__all__ = [
    "ASSETS",
    "PACKAGE_VERSIONS",
    "REDOC_FILES",
    "STATIC_FOLDER",
    "SWAGGER_UI_FILES",
    "DocsAsset",
    "asset_prefix",
    "asset_url",
    "asset_routes",
]
