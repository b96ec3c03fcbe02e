"""Hello world with CovetPy's native API.

    covetpy serve native_hello:app --app-dir pyapp_examples

Then open http://127.0.0.1:8000/hello/world or the API docs at http://127.0.0.1:8000/docs.
"""

from __future__ import annotations

from covetpy import CovetPy

app = CovetPy(title="Hello")


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, world"}


@app.get("/hello/{name}")
async def hello(name: str, excited: bool = False) -> dict[str, str]:
    return {"message": f"Hello, {name}{'!' if excited else '.'}"}
