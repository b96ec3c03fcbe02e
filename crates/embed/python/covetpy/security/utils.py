"""Parsing of the ``Authorization`` header shared by the HTTP and OAuth2 schemes."""

from __future__ import annotations


def get_authorization_scheme_param(authorization_header_value: str | None) -> tuple[str, str]:
    """Split an ``Authorization`` value into its scheme and its parameter.

    The scheme is everything before the first space, the parameter the rest with surrounding
    whitespace removed; a missing or empty header gives ``("", "")`` and a value without a
    space gives ``(value, "")``.
    """
    if not authorization_header_value:
        return "", ""
    scheme, _, param = authorization_header_value.partition(" ")
    return scheme, param.strip()
