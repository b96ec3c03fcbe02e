"""``StaticFiles``: serve a directory (Starlette's class, as in FastAPI), with one addition.

``StaticFiles(..., precompressed=True)`` answers a client that accepts ``br`` or ``gzip`` with the
file's ``.br`` / ``.gz`` sibling when one exists (``app.js`` -> ``app.js.br``), with
``Content-Encoding`` set, the original file's content type, and ``Vary: Accept-Encoding`` on every
file answer of that mount. Without it the class is Starlette's, answer for answer.

Under ``covetpy serve --interface covet`` a mount of this class (or of Starlette's) is served by the
server itself, with the same answers; see docs/native.md.
"""

from __future__ import annotations

import os
import re
import stat
from mimetypes import guess_type

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, PathLike
from starlette.staticfiles import StaticFiles as _StarletteStaticFiles
from starlette.types import Scope

__all__ = ["StaticFiles", "acceptable_codings"]

#: The sibling suffix for each content coding a precompressed mount serves, in order of preference.
SIBLING_SUFFIXES: dict[str, str] = {"br": ".br", "gzip": ".gz"}

# RFC 9110's qvalue: anything else makes the entry ignored (the server applies the same rule).
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def acceptable_codings(accept_encoding: str) -> list[str]:
    """The codings of :data:`SIBLING_SUFFIXES` an ``Accept-Encoding`` value accepts, best first:
    highest q first, ``br`` before ``gzip`` at equal q. A coding not named takes ``*``'s q."""
    weights: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        token, _, params = entry.partition(";")
        coding = token.strip(" \t").lower()
        if not coding or coding in weights:
            continue
        q: float | None = 1.0
        for param in params.split(";") if params else []:
            name, _, value = param.partition("=")
            if name.strip(" \t").lower() == "q":
                value = value.strip(" \t")
                q = float(value) if _QVALUE.fullmatch(value) else None
        if q is not None:
            weights[coding] = q
    chosen = [(weights.get(c, weights.get("*", 0.0)), rank, c) for rank, c in enumerate(SIBLING_SUFFIXES)]
    return [c for q, _, c in sorted(chosen, key=lambda t: (-t[0], t[1])) if q > 0]


class StaticFiles(_StarletteStaticFiles):
    """Starlette's ``StaticFiles`` plus ``precompressed`` (see the module's text)."""

    def __init__(
        self,
        *,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
        precompressed: bool = False,
    ) -> None:
        super().__init__(
            directory=directory,
            packages=packages,
            html=html,
            check_dir=check_dir,
            follow_symlink=follow_symlink,
        )
        self.precompressed = precompressed

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        if not self.precompressed:
            return super().file_response(full_path, stat_result, scope, status_code)
        request_headers = Headers(scope=scope)
        path = os.fspath(full_path)
        response: FileResponse | None = None
        for coding in acceptable_codings(request_headers.get("accept-encoding", "")):
            sibling = path + SIBLING_SUFFIXES[coding]
            try:
                sibling_stat = os.stat(sibling)
            except OSError:
                continue
            if stat.S_ISREG(sibling_stat.st_mode):
                response = FileResponse(
                    sibling,
                    status_code=status_code,
                    headers={"content-encoding": coding, "vary": "Accept-Encoding"},
                    media_type=guess_type(path)[0] or "application/octet-stream",
                    stat_result=sibling_stat,
                )
                break
        if response is None:
            response = FileResponse(
                path, status_code=status_code, headers={"vary": "Accept-Encoding"}, stat_result=stat_result
            )
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
