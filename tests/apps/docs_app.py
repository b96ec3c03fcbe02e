"""Apps for tests/test_native_docs.py: the documentation pages and the assets covetpy ships."""

from __future__ import annotations

import importlib.resources

from covetpy import FastAPI
from covetpy.openapi.docs import get_redoc_html, get_swagger_ui_html
from covetpy.responses import HTMLResponse
from pydantic import BaseModel

app = FastAPI(title="Pet Shop", version="1.2.0")


class Pet(BaseModel):
    name: str
    age: int = 0


@app.get("/pets/{pet_id}", summary="Read one pet", tags=["pets"])
def read_pet(pet_id: int) -> dict[str, int]:
    return {"id": pet_id}


@app.post("/pets", summary="Create a pet", tags=["pets"], status_code=201)
def create_pet(pet: Pet) -> Pet:
    return pet


@app.get("/store/inventory", summary="Count the stock", tags=["store"])
def inventory() -> dict[str, int]:
    return {"dogs": 3}


# Docs under other paths, ReDoc off, and pages a user writes with FastAPI's functions.
custom = FastAPI(title="Custom", docs_url="/documentation", redoc_url=None)

CDN_JS = "https://cdn.example.test/swagger-ui-bundle.js"
CDN_CSS = "https://cdn.example.test/swagger-ui.css"


@custom.get("/ping", summary="Ping the service")
def ping() -> str:
    return "pong"


@custom.get("/cdn-docs", include_in_schema=False)
def cdn_docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="CDN", swagger_js_url=CDN_JS, swagger_css_url=CDN_CSS
    )


@custom.get("/fonts-redoc", include_in_schema=False)
def fonts_redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title="Fonts", with_google_fonts=True)


@custom.get("/package-data", include_in_schema=False)
def package_data() -> dict[str, object]:
    """What importlib.resources sees of the covetpy package (under covetpy serve: the copy embedded
    in the binary)."""
    static = importlib.resources.files("covetpy").joinpath("static")
    favicon = static / "favicon.svg"
    return {
        "is_dir": static.is_dir(),
        "names": sorted(p.name for p in static.iterdir()),
        "favicon_is_file": favicon.is_file(),
        "favicon": favicon.read_text(encoding="utf-8"),
        "missing_is_file": static.joinpath("nope.js").is_file(),
    }
