"""A realistic FastAPI route for the benchmark: an ``@app.middleware("http")``, a bearer-token auth
dependency, a ``yield`` session dependency, a path parameter and a pydantic ``response_model`` that drops
a field.

The module imports ``fastapi``: uvicorn runs it on FastAPI, ``covetpy serve --interface covet`` runs the
same file natively (its ``fastapi`` imports resolve to covetpy).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

app = FastAPI()
bearer = HTTPBearer()

TOKENS = {"secret-token": "alice"}
USERS = {
    n: {"id": n, "name": f"user{n}", "email": f"user{n}@example.com", "password": "hunter2"}
    for n in range(100)
}


class UserOut(BaseModel):
    id: int
    name: str
    email: str


class Session:
    """Stands in for a database session: opened per request, closed after it."""

    def __init__(self) -> None:
        self.open = True

    async def get_user(self, user_id: int) -> dict[str, object] | None:
        return USERS.get(user_id)

    async def close(self) -> None:
        self.open = False


async def get_session() -> AsyncIterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        await session.close()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> str:
    user = TOKENS.get(credentials.credentials)
    if user is None:
        raise HTTPException(status_code=401, detail="Invalid token")
    return user


@app.middleware("http")
async def process_time(request: Request, call_next):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    response = await call_next(request)
    response.headers["X-Process-Time"] = f"{time.perf_counter() - start:.6f}"
    return response


@app.get("/users/{user_id}", response_model=UserOut)
async def read_user(
    user_id: int,
    user: Annotated[str, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, object]:
    found = await session.get_user(user_id)
    if found is None:
        raise HTTPException(status_code=404, detail="User not found")
    return found
