"""Minimal Django settings for the WSGI tests: no database, no templates."""

from __future__ import annotations

SECRET_KEY = "covetpy-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
WSGI_APPLICATION = "mysite.wsgi.application"
