"""Base of the security schemes."""


class SecurityBase:
    """A security scheme dependency."""

    scheme_name: str
