"""Views for the WSGI tests."""

from __future__ import annotations

import hashlib
import json

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello from django", content_type="text/plain")


def info(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META.get("SCRIPT_NAME"),
            "query": request.GET.dict(),
            "host": request.get_host(),
            "is_secure": request.is_secure(),
            "header": request.headers.get("X-Test"),
        }
    )


def body(request: HttpRequest) -> JsonResponse:
    """Reads the raw POST body (and the form fields for urlencoded bodies)."""
    raw = request.body
    return JsonResponse(
        {
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "form": request.POST.dict(),
            "content_type": request.content_type,
        }
    )


def echo_json(request: HttpRequest) -> JsonResponse:
    payload = json.loads(request.body or b"null")
    return JsonResponse({"received": payload})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("n", "3"))
    return StreamingHttpResponse(
        (f"chunk-{i}\n".encode() for i in range(count)), content_type="text/plain"
    )
