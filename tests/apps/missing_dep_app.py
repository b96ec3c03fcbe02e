"""Module that imports a dependency which is not installed."""

from __future__ import annotations

import covet_nonexistent_dependency  # type: ignore[import-not-found]  # noqa: F401

app = None
