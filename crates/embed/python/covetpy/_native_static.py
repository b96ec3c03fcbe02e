"""Which ``StaticFiles`` mounts the Rust server serves itself, described as plain specs.

A mount qualifies when the server's answer is certain to be the one Starlette's router and
``StaticFiles`` would give: the mount is at the top of the app's routes, its app is exactly
Starlette's or covetpy's ``StaticFiles`` (a subclass may change any answer), no Python middleware
runs around it, and no route ahead of it that the server's table does not hold (a ``Mount``, a
``Host``, a Starlette route with parameters) could match a path under its prefix. The server
answers only what is certain (a regular file: 200, 206 for one range, 304) and hands everything
else (a miss, a directory, several ranges, a header it does not read the way Python does) to the
app, whose ``StaticFiles`` answers it.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette import routing
from starlette.staticfiles import StaticFiles as StarletteStaticFiles

from covetpy import _native, _native_layers
from covetpy.routing import APIRoute, APIWebSocketRoute
from covetpy.staticfiles import StaticFiles

if TYPE_CHECKING:
    from covetpy.applications import FastAPI

_SERVED_CLASSES = (StarletteStaticFiles, StaticFiles)


@dataclass
class StaticMountSpec:
    """One mount the server serves."""

    #: The mount's path (``/static``; empty for a mount at the root): it serves ``prefix + "/..."``.
    prefix: str
    #: ``StaticFiles.all_directories``, searched in order, as given (relative ones from the cwd).
    directories: list[str]
    follow_symlink: bool
    precompressed: bool


@dataclass
class MimeTable:
    """``mimetypes``' tables as ``guess_type`` reads them, after the app's own ``add_type`` calls."""

    types_map: dict[str, str]
    suffix_map: dict[str, str]
    encodings_map: dict[str, str]


def mime_table() -> MimeTable:
    """The tables of the module-level ``mimetypes`` database, which ``FileResponse`` consults."""
    if not mimetypes.inited:
        mimetypes.init()
    db: Any = getattr(mimetypes, "_db")  # noqa: B009 - the database guess_type() reads, untyped
    return MimeTable(
        types_map=dict(db.types_map[True]),
        suffix_map=dict(db.suffix_map),
        encodings_map=dict(db.encodings_map),
    )


def static_mounts(app: FastAPI) -> list[StaticMountSpec]:
    """The mounts of ``app.router.routes`` the server may serve (see the module's text)."""
    if app.root_path or app.max_body_size is not None or _native_layers.split(app)[1]:
        return []
    routes = app.router.routes
    specs = []
    for index, route in enumerate(routes):
        if not isinstance(route, routing.Mount):
            continue
        files = route.app
        if not isinstance(files, StarletteStaticFiles) or type(files) not in _SERVED_CLASSES:
            continue
        directories = [os.fspath(d) for d in files.all_directories]
        if "{" in route.path or not _checkable(files, directories):
            continue
        if any(_hides(other, i < index, route.path) for i, other in enumerate(routes) if other is not route):
            continue
        specs.append(
            StaticMountSpec(
                prefix=route.path,
                directories=directories,
                follow_symlink=files.follow_symlink,
                precompressed=bool(getattr(files, "precompressed", False)),
            )
        )
    return specs


def _checkable(files: StarletteStaticFiles, directories: list[str]) -> bool:
    """Whether Starlette's first-request check passes (else every request is its 500) and the
    directories are spelled so that the server resolves them as ``os.path`` does (POSIX keeps a
    leading ``//``)."""
    if files.directory is not None and not os.path.isdir(files.directory):
        return False
    return all(not (d.startswith("//") and not d.startswith("///")) for d in directories)


def _hides(route: Any, before: bool, prefix: str) -> bool:
    """Whether ``route``, declared before the mount, may take a request for a path under
    ``prefix`` where the server would not see it: a route the server's table does not hold. (The
    table sends the requests of a route declared after a mount that may take them to the whole app,
    whose router finds the mount first, ``covetpy._native._table``.)"""
    if not before or isinstance(route, APIWebSocketRoute | routing.WebSocketRoute):
        return False
    if not _native.may_meet(route, prefix + "/{path:path}"):
        return False
    if isinstance(route, APIRoute):
        return not _native.convertors_known(route.path)
    return not (isinstance(route, routing.Route) and _native.static_path(route.path))
