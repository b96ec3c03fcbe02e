"""Make ``import fastapi`` (and ``import fastapi.X.Y``) give covetpy's modules.

    from covetpy import _fastapi_alias

    _fastapi_alias.install()
    import fastapi                      # the covetpy package itself
    from fastapi.responses import JSONResponse   # covetpy.responses.JSONResponse

An app written for FastAPI then runs on covetpy unchanged. The alias hands out the very module objects of
covetpy (``fastapi.FastAPI is covetpy.FastAPI``), so isinstance checks and module-level state are shared
whichever name imported them. A ``fastapi.*`` module that covetpy has no counterpart for fails to import
with a :class:`ModuleNotFoundError` that says so, rather than silently falling back to a real FastAPI
installed next to it: mixing the two frameworks in one app would fail later and far less clearly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

ALIAS = "fastapi"
"""The top-level name that is redirected."""

TARGET = "covetpy"
"""The package the alias resolves to."""


def _is_aliased(fullname: str) -> bool:
    return fullname == ALIAS or fullname.startswith(ALIAS + ".")


def target_name(fullname: str) -> str:
    """The covetpy module standing for FastAPI's ``fullname`` (``fastapi.a.b`` -> ``covetpy.a.b``)."""
    return TARGET + fullname[len(ALIAS) :]


def _missing_is_ours(missing: str | None, wanted: str) -> bool:
    """True when the module that could not be found is ``wanted`` itself or one of its covetpy parents,
    as opposed to a third-party module that the covetpy module imports."""
    if missing is None:
        return False
    return missing == wanted or wanted.startswith(missing + ".")


class _ExistingModuleLoader(importlib.abc.Loader):
    """Loads an already imported module under a second name.

    The import system stores what ``create_module`` returns in ``sys.modules[alias]`` and, whatever the
    loader does, overwrites the module's ``__spec__`` with the alias spec; ``exec_module`` puts covetpy's
    own spec back so that the module keeps describing itself truthfully (relative imports inside covetpy and
    ``importlib.reload`` read it).
    """

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module
        self._spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self._module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self._spec


class FastAPIAliasFinder(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that answers for ``fastapi`` and ``fastapi.*`` with covetpy's modules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not _is_aliased(fullname):
            return None
        wanted = target_name(fullname)
        try:
            module = importlib.import_module(wanted)
        except ModuleNotFoundError as exc:
            if not _missing_is_ours(exc.name, wanted):
                raise  # covetpy has the module, but something it imports is missing: say that instead
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: covetpy does not provide FastAPI's {fullname} "
                f"(there is no {wanted})",
                name=fullname,
            ) from None
        is_package = hasattr(module, "__path__")
        spec = importlib.machinery.ModuleSpec(
            fullname, _ExistingModuleLoader(module), origin=f"alias of {wanted}", is_package=is_package
        )
        if is_package:
            spec.submodule_search_locations = list(module.__path__)
        return spec


def installed() -> bool:
    """True when the alias is in ``sys.meta_path``."""
    return any(isinstance(finder, FastAPIAliasFinder) for finder in sys.meta_path)


def _foreign_fastapi_modules() -> list[str]:
    """Names of ``fastapi*`` modules already imported that are not covetpy's (a real FastAPI)."""
    names = []
    for name, module in list(sys.modules.items()):
        if _is_aliased(name) and module is not None:
            if getattr(module, "__name__", None) != target_name(name):
                names.append(name)
    return sorted(names)


def install() -> None:
    """Put the alias first in ``sys.meta_path`` (again calling it is a no-op).

    Raises :class:`RuntimeError` when a real FastAPI has already been imported in this interpreter: its
    modules would stay in ``sys.modules`` and the app would get a mix of both frameworks.
    """
    if installed():
        return
    foreign = _foreign_fastapi_modules()
    if foreign:
        raise RuntimeError(
            "cannot alias fastapi to covetpy: FastAPI is already imported "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); install the alias before "
            "anything imports fastapi"
        )
    sys.meta_path.insert(0, FastAPIAliasFinder())


def uninstall() -> None:
    """Remove the alias and forget the ``fastapi*`` names it handed out (covetpy's modules stay imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, FastAPIAliasFinder)]
    for name, module in list(sys.modules.items()):
        if _is_aliased(name) and getattr(module, "__name__", None) == target_name(name):
            del sys.modules[name]
