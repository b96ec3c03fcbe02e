"""FastAPI's sdist (``docs_src/`` and ``tests/``) for the installed FastAPI version, in a cache directory.

The cache is ``$COVETPY_FASTAPI_CACHE`` or ``~/.cache/covetpy/fastapi-docs``; the sdist is downloaded with
pip from PyPI the first time and reused afterwards. Nothing of FastAPI's is kept in our repository.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE_ENV = "COVETPY_FASTAPI_CACHE"


def cache_dir() -> Path:
    """Where sdists and reference results are kept."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "covetpy" / "fastapi-docs"


def fastapi_version() -> str:
    """The FastAPI version installed next to this interpreter (the one the reference run uses)."""
    return importlib.metadata.version("fastapi")


class FetchError(RuntimeError):
    """The sdist could not be downloaded or unpacked."""


def sdist_root(version: str | None = None) -> Path:
    """The unpacked ``fastapi-VERSION`` directory, downloading it when the cache does not have it."""
    version = version or fastapi_version()
    root = cache_dir() / f"fastapi-{version}"
    if (root / "tests" / "test_tutorial").is_dir() and (root / "docs_src").is_dir():
        return root
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"fastapi=={version}", "--no-binary", ":all:",
             "--no-deps", "--no-build-isolation", "--quiet", "-d", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        archives = sorted(Path(tmp).glob(f"fastapi-{version}.tar.gz"))
        if result.returncode != 0 or not archives:
            # without build isolation pip may lack the build backend; with it, pip fetches one itself
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", f"fastapi=={version}", "--no-binary", ":all:",
                 "--no-deps", "--quiet", "-d", tmp],
                capture_output=True,
                text=True,
                check=False,
            )
            archives = sorted(Path(tmp).glob(f"fastapi-{version}.tar.gz"))
        if result.returncode != 0 or not archives:
            raise FetchError(f"pip download fastapi=={version} failed: {result.stderr.strip()[-2000:]}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(unpacked, filter="data")
        top = unpacked / f"fastapi-{version}"
        if not (top / "tests" / "test_tutorial").is_dir():
            raise FetchError(f"{archives[0].name} has no tests/test_tutorial")
        if root.exists():
            shutil.rmtree(root)
        top.rename(root)
    return root
