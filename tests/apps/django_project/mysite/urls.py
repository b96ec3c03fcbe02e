"""URL routes for the WSGI tests."""

from __future__ import annotations

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from . import views

urlpatterns = [
    path("", views.index),
    path("info/", views.info),
    path("body/", csrf_exempt(views.body)),
    path("json/", csrf_exempt(views.echo_json)),
    path("stream/", views.stream),
]
