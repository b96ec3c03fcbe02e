"""HTTP Basic authentication: the decoded credentials as a dependency, and a dependency that
checks them in constant time and answers 401 with a Basic challenge when they are wrong."""

import secrets
from typing import Annotated

from covetpy import Depends, FastAPI, HTTPException, status
from covetpy.security import HTTPBasic, HTTPBasicCredentials

app = FastAPI()

basic = HTTPBasic()
basic_with_realm = HTTPBasic(realm="staff area", description="Staff only")


def checked_login(credentials: Annotated[HTTPBasicCredentials, Depends(basic_with_realm)]) -> str:
    login_ok = secrets.compare_digest(credentials.username.encode(), b"grace")
    password_ok = secrets.compare_digest(credentials.password.encode(), b"cobol-1959")
    if not (login_ok and password_ok):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": 'Basic realm="staff area"'},
        )
    return credentials.username


@app.get("/users/me")
def echo_credentials(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> dict[str, str]:
    return {"username": credentials.username, "password": credentials.password}


@app.get("/staff/me")
def staff_member(login: Annotated[str, Depends(checked_login)]) -> dict[str, str]:
    return {"username": login}
