"""WSGI entry point of the example Django project.

Run it from the repository root with::

    pip install -r pyapp_examples/requirements.txt
    covetpy serve mysite.wsgi:application --app-dir pyapp_examples/django_project

(``--interface wsgi`` is optional: ``application`` is a callable of
(environ, start_response), which ``--interface auto`` recognises.) Then::

    curl http://127.0.0.1:8000/
    curl -H 'Content-Type: application/json' -d '{"a": 1}' http://127.0.0.1:8000/echo/
    curl -N http://127.0.0.1:8000/ticks/?n=5

For your own project, point ``--app-dir`` at the directory holding manage.py
and serve ``<project>.wsgi:application``, as you would with gunicorn.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
