"""Module that fails at import time."""

from __future__ import annotations

raise RuntimeError("covet-test: broken_app raised during import")
