"""covetpy._fastapi_alias: `import fastapi...` resolves to covetpy's own module objects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import covetpy
import pytest
from covetpy import _fastapi_alias

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "crates" / "embed" / "python"


@pytest.fixture
def alias() -> Iterator[None]:
    """Install the alias with no fastapi modules imported; put the real ones back afterwards, since
    other test modules of the session compare covetpy with the real FastAPI in-process."""
    saved = {n: mod for n, mod in sys.modules.items() if n == "fastapi" or n.startswith("fastapi.")}
    for name in saved:
        del sys.modules[name]
    _fastapi_alias.install()
    try:
        yield
    finally:
        _fastapi_alias.uninstall()
        sys.modules.update(saved)


def test_top_level_and_submodules_are_covetpy_objects(alias: None) -> None:
    import fastapi
    import fastapi.exceptions
    import fastapi.responses
    from fastapi.responses import JSONResponse

    assert fastapi is covetpy
    assert fastapi.responses is covetpy.responses
    assert JSONResponse is covetpy.responses.JSONResponse
    assert fastapi.exceptions.HTTPException is covetpy.exceptions.HTTPException
    assert fastapi.APIRouter is covetpy.APIRouter
    assert sys.modules["fastapi.responses"] is covetpy.responses


def test_aliased_modules_keep_their_own_spec(alias: None) -> None:
    import fastapi.encoders

    assert fastapi.encoders.__name__ == "covetpy.encoders"
    assert fastapi.encoders.__spec__ is not None
    assert fastapi.encoders.__spec__.name == "covetpy.encoders"


def test_nested_submodule(alias: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = ModuleType("covetpy._probe_pkg")
    pkg.__path__ = []
    leaf = ModuleType("covetpy._probe_pkg.leaf")
    monkeypatch.setitem(sys.modules, "covetpy._probe_pkg", pkg)
    monkeypatch.setitem(sys.modules, "covetpy._probe_pkg.leaf", leaf)
    import fastapi._probe_pkg.leaf as got

    assert got is leaf
    assert sys.modules["fastapi._probe_pkg"] is pkg
    del sys.modules["fastapi._probe_pkg.leaf"], sys.modules["fastapi._probe_pkg"]


def test_module_covetpy_lacks_names_fastapi_module(alias: None) -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        import fastapi.no_such_module  # noqa: F401
    assert info.value.name == "fastapi.no_such_module"
    assert "fastapi.no_such_module" in str(info.value)
    assert "covetpy does not provide" in str(info.value)
    # the first missing level is the one named: covetpy has no fastapi.nope to look in
    with pytest.raises(ModuleNotFoundError, match=r"covetpy does not provide FastAPI's fastapi\.nope "):
        import fastapi.nope.deeper  # noqa: F401


def test_missing_third_party_dependency_is_reported_as_is(
    alias: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "_needs_dep.py").write_text("import covetpy_test_absent_dependency\n")
    monkeypatch.setattr(covetpy, "__path__", [*covetpy.__path__, str(tmp_path)])
    with pytest.raises(ModuleNotFoundError) as info:
        import fastapi._needs_dep  # noqa: F401
    assert info.value.name == "covetpy_test_absent_dependency"
    assert "covetpy does not provide" not in str(info.value)


def test_install_is_idempotent_and_first(alias: None) -> None:
    _fastapi_alias.install()
    finders = [f for f in sys.meta_path if isinstance(f, _fastapi_alias.FastAPIAliasFinder)]
    assert len(finders) == 1
    assert isinstance(sys.meta_path[0], _fastapi_alias.FastAPIAliasFinder)


def test_uninstall_forgets_aliases(alias: None) -> None:
    import fastapi.status  # noqa: F401

    _fastapi_alias.uninstall()
    assert not _fastapi_alias.installed()
    assert "fastapi" not in sys.modules
    assert "fastapi.status" not in sys.modules
    assert "covetpy.status" in sys.modules


def test_refuses_when_real_fastapi_already_imported() -> None:
    """In a fresh interpreter (this one may have the real FastAPI imported, or not)."""
    code = textwrap.dedent(
        """
        import fastapi
        from covetpy import _fastapi_alias
        try:
            _fastapi_alias.install()
        except RuntimeError as exc:
            print("refused:", exc)
        else:
            print("installed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE_DIR), "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.startswith("refused: cannot alias fastapi to covetpy: FastAPI is already imported")
    assert not _fastapi_alias.installed()
