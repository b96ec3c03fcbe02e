"""Security with signed tokens and OAuth2 scopes: ``POST /token`` checks a salted password hash
and returns a JWT carrying the granted scopes; each path operation declares the scopes it needs
with ``Security(..., scopes=[...])`` and the "current user" dependency checks them through
``SecurityScopes``, answering 401 with a ``Bearer scope="..."`` challenge when one is missing."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from covetpy import Depends, FastAPI, HTTPException, Security, status
from covetpy.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm, SecurityScopes
from jwt.exceptions import InvalidTokenError
from pydantic import BaseModel, ValidationError

SIGNING_KEY = "test-only-signing-key-for-the-security-tutorial-app"
ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(minutes=15)
SALT = b"tutorial-salt"


def hash_password(password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, 1000).hex()


ACCOUNTS = {
    "ada": {
        "login": "ada",
        "display_name": "Ada L.",
        "password_hash": hash_password("engine"),
        "locked": False,
    },
    "bob": {
        "login": "bob",
        "display_name": "Bob B.",
        "password_hash": hash_password("builder"),
        "locked": True,
    },
}

token_scheme = OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "Read the current account.", "items": "Read the account's items."},
)

app = FastAPI()


class TokenClaims(BaseModel):
    login: str
    scopes: list[str] = []


class Account(BaseModel):
    login: str
    display_name: str | None = None
    locked: bool = False


class StoredAccount(Account):
    password_hash: str


def find_account(login: str) -> StoredAccount | None:
    record = ACCOUNTS.get(login)
    return StoredAccount(**record) if record else None


def issue_token(login: str, scopes: list[str]) -> str:
    claims = {"sub": login, "scopes": scopes, "exp": datetime.now(UTC) + TOKEN_LIFETIME}
    return jwt.encode(claims, SIGNING_KEY, algorithm=ALGORITHM)


async def current_account(
    required: SecurityScopes, token: Annotated[str, Depends(token_scheme)]
) -> StoredAccount:
    challenge = f'Bearer scope="{required.scope_str}"' if required.scopes else "Bearer"
    rejected = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": challenge},
    )
    try:
        payload = jwt.decode(token, SIGNING_KEY, algorithms=[ALGORITHM])
        login = payload.get("sub")
        if login is None:
            raise rejected
        claims = TokenClaims(login=login, scopes=payload.get("scopes", []))
    except (InvalidTokenError, ValidationError) as exc:
        raise rejected from exc
    account = find_account(claims.login)
    if account is None:
        raise rejected
    for scope in required.scopes:
        if scope not in claims.scopes:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Not enough permissions",
                headers={"WWW-Authenticate": challenge},
            )
    return account


async def active_account(
    account: Annotated[StoredAccount, Security(current_account, scopes=["me"])],
) -> StoredAccount:
    if account.locked:
        raise HTTPException(status_code=400, detail="Account locked")
    return account


@app.post("/token")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
    account = find_account(form.username)
    if account is None or not hmac.compare_digest(hash_password(form.password), account.password_hash):
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    return {"access_token": issue_token(account.login, form.scopes), "token_type": "bearer"}


@app.get("/users/me/", response_model=Account)
async def who_am_i(account: Annotated[StoredAccount, Depends(active_account)]) -> StoredAccount:
    return account


@app.get("/users/me/items/")
async def my_items(
    account: Annotated[StoredAccount, Security(active_account, scopes=["items"])],
) -> list[dict[str, str]]:
    return [{"item_id": "lamp", "owner": account.login}]


@app.get("/status/")
async def account_status(account: Annotated[StoredAccount, Depends(current_account)]) -> dict[str, str]:
    return {"status": "ok", "login": account.login}
