"""The FastAPI 0.165 additions covetpy took on, built twice (as a FastAPI app and as a covetpy
app) from the same code: request body limits (``max_body_size`` on the app, a router, an include
and a path operation; ``form_limits``), several and optional query/header/cookie parameter models,
and form models next to other fields, optional, or in a union. ``test_native_limits`` serves
``fastapi_app`` with ``--interface asgi`` and ``covet_app`` with ``--interface covet`` and expects
the same answers. No ``from __future__ import annotations``: the annotations of the functions
defined inside ``build`` must be real objects."""

import importlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Pagination(BaseModel):
    limit: int = Field(10, ge=1)
    offset: int = Field(0, ge=0)


class Filters(BaseModel):
    tags: list[str] = []


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sort: str = "asc"


class Client(BaseModel):
    x_client_name: str
    x_client_version: str


class Prefs(BaseModel):
    theme: str
    locale: str


class Profile(BaseModel):
    name: str
    age: int


class Person(BaseModel):
    kind: Literal["person"]
    name: str


class Company(BaseModel):
    kind: Literal["company"]
    company_name: str


def build(framework: str) -> Any:
    fw = importlib.import_module(framework)
    app = fw.FastAPI(max_body_size=64, form_limits={"max_fields": 3})
    big = fw.APIRouter(prefix="/big", max_body_size=1024)

    @app.post("/echo")
    def echo(item: dict) -> Any:
        return item

    @big.post("/echo")
    def big_echo(item: dict) -> Any:
        return item

    @big.post("/small", max_body_size=16)
    def small_echo(item: dict) -> Any:
        return item

    @app.post("/form")
    def form(a: Annotated[str, fw.Form()], b: Annotated[str, fw.Form()] = "-") -> Any:
        return [a, b]

    @app.post("/form-part", max_body_size=4096, form_limits={"max_part_size": 1024, "max_fields": 10})
    def form_part(a: Annotated[str, fw.Form()]) -> Any:
        return a

    @app.get("/models")
    def models(
        pagination: Annotated[Pagination, fw.Query()],
        filters: Annotated[Filters, fw.Query()],
        q: str | None = None,
    ) -> Any:
        return {"pagination": pagination, "filters": filters, "q": q}

    @app.get("/strict")
    def strict(strict: Annotated[Strict, fw.Query()]) -> Any:
        return strict

    @app.get("/optional-header")
    def optional_header(client: Annotated[Client | None, fw.Header()] = None) -> Any:
        return client

    @app.get("/optional-cookie")
    def optional_cookie(prefs: Annotated[Prefs | None, fw.Cookie()] = None) -> Any:
        return prefs

    @app.post("/profile")
    def profile(
        token: Annotated[str, fw.Form()], profile: Annotated[Profile | None, fw.Form()] = None
    ) -> Any:
        return {"token": token, "profile": profile}

    @app.post("/contact")
    def contact(
        contact: Annotated[Person | Company, fw.Form(discriminator="kind")],
        note: Annotated[str, fw.Form()] = "",
    ) -> Any:
        return {"contact": contact, "note": note}

    app.include_router(big)
    inner = fw.APIRouter()

    @inner.post("/echo")
    def included_echo(item: dict) -> Any:
        return item

    app.include_router(inner, prefix="/inc", max_body_size=32)
    return app


fastapi_app = build("fastapi")
covet_app = build("covetpy")
