"""Security, first steps: a password-flow bearer token read by a dependency, and a "current
user" dependency built on it (the token is not checked yet: any token is a user)."""

from typing import Annotated

from covetpy import Depends, FastAPI
from covetpy.security import OAuth2PasswordBearer
from pydantic import BaseModel

app = FastAPI()

token_scheme = OAuth2PasswordBearer(tokenUrl="token")


class Account(BaseModel):
    login: str
    display_name: str | None = None
    email: str | None = None


def account_from_token(token: str) -> Account:
    return Account(login=f"user-{token}", display_name="Token Holder", email=f"{token}@example.org")


async def current_account(token: Annotated[str, Depends(token_scheme)]) -> Account:
    return account_from_token(token)


@app.get("/items/")
async def list_items(token: Annotated[str, Depends(token_scheme)]) -> dict[str, str]:
    return {"token": token}


@app.get("/users/me")
async def who_am_i(account: Annotated[Account, Depends(current_account)]) -> Account:
    return account
