"""Example views: plain text, JSON in and out, and a streamed response."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Hello from Django over {request.META['SERVER_PROTOCOL']}\n")


@csrf_exempt
@require_POST
def echo(request: HttpRequest) -> JsonResponse:
    """Echo a JSON body (API clients send no CSRF token, hence csrf_exempt)."""
    try:
        payload = json.loads(request.body or b"null")
    except json.JSONDecodeError:
        return JsonResponse({"error": "body is not JSON"}, status=400)
    return JsonResponse({"received": payload, "bytes": len(request.body)})


def ticks(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("n", "5"))

    def generate() -> Iterator[bytes]:
        for n in range(count):
            yield f"tick {n}\n".encode()
            time.sleep(0.5)

    return StreamingHttpResponse(generate(), content_type="text/plain")
