"""OAuth2 (partial, replaced by the security branch)."""


class SecurityScopes:
    """The OAuth2 scopes required by the dependencies of a chain."""

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes: list[str] = scopes or []
        self.scope_str: str = " ".join(self.scopes)
