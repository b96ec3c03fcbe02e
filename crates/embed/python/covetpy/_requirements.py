"""Imported first by the package: the framework is built on Starlette and pydantic, as FastAPI is,
so an environment without them gets one sentence naming what to install instead of an import error
deep inside the package."""

import importlib.util

_MISSING = [name for name in ("starlette", "pydantic") if importlib.util.find_spec(name) is None]
if _MISSING:
    raise ModuleNotFoundError(
        f"covetpy's native framework needs {' and '.join(_MISSING)} in the app's environment "
        "(pip install starlette pydantic python-multipart)"
    )
