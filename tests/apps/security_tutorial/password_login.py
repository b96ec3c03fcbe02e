"""Security with a login form: ``POST /token`` takes the OAuth2 password form and hands out a
token (here simply the user name), ``/users/me`` resolves the token to an active user."""

from typing import Annotated

from covetpy import Depends, FastAPI, HTTPException, status
from covetpy.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm, OAuth2PasswordRequestFormStrict
from pydantic import BaseModel

ACCOUNTS = {
    "ada": {
        "login": "ada",
        "display_name": "Ada L.",
        "password_digest": "digest:analytical",
        "locked": False,
    },
    "bob": {"login": "bob", "display_name": "Bob B.", "password_digest": "digest:builder", "locked": True},
}

app = FastAPI()

token_scheme = OAuth2PasswordBearer(tokenUrl="token")


class Account(BaseModel):
    login: str
    display_name: str | None = None
    locked: bool = False


class StoredAccount(Account):
    password_digest: str


def digest(password: str) -> str:
    # a stand-in for real password hashing: this example is about the flow, not the hash
    return "digest:" + password


def find_account(login: str) -> StoredAccount | None:
    record = ACCOUNTS.get(login)
    return StoredAccount(**record) if record else None


async def current_account(token: Annotated[str, Depends(token_scheme)]) -> StoredAccount:
    account = find_account(token)
    if account is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid authentication credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return account


async def active_account(account: Annotated[StoredAccount, Depends(current_account)]) -> StoredAccount:
    if account.locked:
        raise HTTPException(status_code=400, detail="Account locked")
    return account


def check_login(username: str, password: str) -> StoredAccount:
    account = find_account(username)
    if account is None or digest(password) != account.password_digest:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    return account


@app.post("/token")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, object]:
    account = check_login(form.username, form.password)
    return {
        "access_token": account.login,
        "token_type": "bearer",
        "scopes": form.scopes,
        "grant_type": form.grant_type,
        "client_id": form.client_id,
    }


@app.post("/token-strict")
async def login_strict(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]) -> dict[str, str]:
    account = check_login(form.username, form.password)
    return {"access_token": account.login, "token_type": "bearer"}


@app.get("/users/me", response_model=Account)
async def who_am_i(account: Annotated[StoredAccount, Depends(active_account)]) -> StoredAccount:
    return account
