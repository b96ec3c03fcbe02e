"""Request and response data structures: headers, query parameters, URLs, state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit


class Address(NamedTuple):
    """The client's (or server's) address."""

    host: str
    port: int | None


def _latin1(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only view of HTTP headers that keeps repeated names.

    ``headers["x"]`` and ``headers.get("x")`` give the first value; ``getlist`` gives all of them.
    """

    __slots__ = ("_list",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        raw: Iterable[tuple[bytes | str, bytes | str]] | None = None,
    ) -> None:
        items: list[tuple[str, str]] = []
        if headers is not None:
            items.extend((key.lower(), value) for key, value in headers.items())
        if raw is not None:
            items.extend((_latin1(key).lower(), _latin1(value)) for key, value in raw)
        self._list = items

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return [
            (key.encode("latin-1"), value.encode("latin-1"))
            for key, value in self._list
        ]

    def __getitem__(self, key: str) -> str:
        wanted = key.lower()
        for name, value in self._list:
            if name == wanted:
                return value
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        wanted = key.lower()
        return any(name == wanted for name, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._list:
            if name not in seen:
                seen.add(name)
                yield name

    def __len__(self) -> int:
        return len({name for name, _ in self._list})

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower()
        return [value for name, value in self._list if name == wanted]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._list)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class MutableHeaders(MutableMapping[str, str]):
    """A case-insensitive mutable view over a response's ``raw_headers`` list (edits go to the list)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return self._raw

    def __getitem__(self, key: str) -> str:
        wanted = key.lower().encode("latin-1")
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        encoded = value.encode("latin-1")
        found = False
        kept: list[tuple[bytes, bytes]] = []
        for item in self._raw:
            if item[0] == name:
                if not found:
                    kept.append((name, encoded))
                    found = True
            else:
                kept.append(item)
        if not found:
            kept.append((name, encoded))
        self._raw[:] = kept

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        kept = [item for item in self._raw if item[0] != name]
        if len(kept) == len(self._raw):
            raise KeyError(key)
        self._raw[:] = kept

    def __iter__(self) -> Iterator[str]:
        seen: set[bytes] = set()
        for name, _ in self._raw:
            if name not in seen:
                seen.add(name)
                yield name.decode("latin-1")

    def __len__(self) -> int:
        return len({name for name, _ in self._raw})

    def append(self, key: str, value: str) -> None:
        """Add a header without replacing existing ones of the same name."""
        self._raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower().encode("latin-1")
        return [value.decode("latin-1") for name, value in self._raw if name == wanted]

    def setdefault(self, key: str, default: str = "") -> str:
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._raw!r})"


class QueryParams(Mapping[str, str]):
    """The query string as an immutable multi-mapping (``get`` gives the last value like Starlette)."""

    __slots__ = ("_dict", "_list")

    def __init__(
        self,
        query: str
        | bytes
        | Sequence[tuple[str, str]]
        | Mapping[str, str]
        | None = None,
    ) -> None:
        if query is None:
            items: list[tuple[str, str]] = []
        elif isinstance(query, bytes):
            items = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        elif isinstance(query, str):
            items = parse_qsl(query, keep_blank_values=True)
        elif isinstance(query, Mapping):
            items = [(str(k), str(v)) for k, v in query.items()]
        else:
            items = [(str(k), str(v)) for k, v in query]
        self._list = items
        self._dict = {key: value for key, value in items}

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self._list if name == key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._list)

    def __str__(self) -> str:
        return urlencode(self._list)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueryParams):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class URL:
    """A parsed URL: ``scheme``, ``netloc``, ``hostname``, ``port``, ``path``, ``query``, ``fragment``."""

    __slots__ = ("_parts", "_url")

    def __init__(self, url: str = "") -> None:
        self._url = url
        self._parts: SplitResult = urlsplit(url)

    @property
    def scheme(self) -> str:
        return self._parts.scheme

    @property
    def netloc(self) -> str:
        return self._parts.netloc

    @property
    def path(self) -> str:
        return self._parts.path

    @property
    def query(self) -> str:
        return self._parts.query

    @property
    def fragment(self) -> str:
        return self._parts.fragment

    @property
    def username(self) -> str | None:
        return self._parts.username

    @property
    def password(self) -> str | None:
        return self._parts.password

    @property
    def hostname(self) -> str | None:
        return self._parts.hostname

    @property
    def port(self) -> int | None:
        return self._parts.port

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        return URL(self._parts._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        params = dict(parse_qsl(self.query, keep_blank_values=True))
        params.update({str(k): str(v) for k, v in kwargs.items()})
        return self.replace(query=urlencode(params))

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, URL)):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._url)


class State:
    """Attribute-style bag of values (``request.state.db``), optionally seeded from a mapping."""

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", dict(state) if state else {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._state[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._state

    def __repr__(self) -> str:
        return f"State({self._state!r})"
