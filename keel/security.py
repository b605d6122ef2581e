"""Security dependencies: HTTP Bearer/Basic, API keys and OAuth2 password flow.

Each scheme is a callable dependency taking the :class:`~keel.requests.Request`; use it as
``Depends(scheme)`` (or ``Security(scheme, scopes=[...])``). It returns the credentials, or
raises a 401 problem with the ``WWW-Authenticate`` challenge the standards ask for when they
are missing or malformed (``auto_error=False`` returns ``None`` instead). The OpenAPI
generator finds every scheme a route depends on, lists it in ``components.securitySchemes``
and marks the operation, so Swagger UI's *Authorize* button works::

    bearer = HTTPBearer()

    @app.get("/me")
    async def me(token: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> User: ...
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from keel.errors import HTTPError
from keel.params import Form
from keel.requests import Request

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "OAuth2",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "SecurityBase",
    "SecurityScopes",
    "Wording",
]

Wording = Literal["keel", "fastapi"]
"""How schemes word their 401s: ``"keel"`` (specific details, RFC challenges with a realm)
or ``"fastapi"`` (FastAPI's ``"Not authenticated"`` and bare challenges).

An app chooses once (``App.auth_wording``; :class:`keel.fastapi.FastAPI` picks
``"fastapi"``) and its routes are compiled with :meth:`SecurityBase.worded`, so nothing is
decided per request.
"""


class SecurityScopes:
    """The OAuth2 scopes a dependency is reached with; keel fills it in.

    A dependency parameter annotated ``SecurityScopes`` receives every scope declared by a
    ``Security(dep, scopes=[...])`` on the path from the route down to that dependency
    (route-level dependencies included), in order and without duplicates. The scopes are
    computed when the app starts; a dependency reached with different scopes in one request
    runs once per set of scopes.

    Attributes:
        scopes: The required scopes.
        scope_str: The scopes joined by spaces, as in an OAuth2 ``scope`` parameter or a
            ``WWW-Authenticate: Bearer scope="..."`` challenge.
    """

    __slots__ = ("scope_str", "scopes")

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes: list[str] = list(scopes or [])
        self.scope_str: str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes({self.scopes!r})"


class SecurityBase:
    """Base class of security schemes: carries the OpenAPI security scheme object.

    Attributes:
        scheme_name: The key under ``components.securitySchemes`` (the class name by default).
        openapi_scheme: The OpenAPI Security Scheme Object.
        auto_error: Raise 401 when credentials are missing or malformed (else return ``None``).
        status_codes: The error statuses this scheme answers with (documented in OpenAPI).
    """

    scheme_name: str
    openapi_scheme: dict[str, Any]
    auto_error: bool
    status_codes: tuple[int, ...] = (401,)
    wording: Wording = "keel"

    def __init__(
        self,
        openapi_scheme: Mapping[str, Any],
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        scheme = dict(openapi_scheme)
        if description:
            scheme["description"] = description
        self.openapi_scheme = scheme
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> Any:
        """Extract and return the credentials from ``request`` (subclasses implement it)."""
        raise NotImplementedError

    def worded(self, wording: Wording) -> SecurityBase:
        """This scheme wording its 401s as ``wording`` says (a copy when it differs).

        Apps call it when they compile their routes; the copy keeps the scheme's name and
        OpenAPI object, so documents and ``dependency_overrides`` see the same scheme.
        """
        if wording == self.wording:
            return self
        if wording not in ("keel", "fastapi"):
            raise ValueError(f"auth wording must be 'keel' or 'fastapi', got {wording!r}")
        clone = copy.copy(self)
        clone.wording = wording
        return clone

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value sent with a 401."""
        return "Bearer"

    def unauthorized(self, detail: str) -> HTTPError:
        """The 401 error (with the challenge header) this scheme raises.

        With the ``"fastapi"`` wording, the detail is FastAPI's ``"Not authenticated"``.
        """
        if self.wording == "fastapi":
            detail = "Not authenticated"
        return HTTPError(401, detail, headers={"WWW-Authenticate": self.challenge()})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"


def _authorization(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    return scheme, credentials.strip()


# -- HTTP authentication schemes (RFC 9110, 6750, 7617) ------------------------------------------


@dataclasses.dataclass(frozen=True)
class HTTPAuthorizationCredentials:
    """The ``Authorization`` header split into its scheme and credentials."""

    scheme: str
    credentials: str


@dataclasses.dataclass(frozen=True)
class HTTPBasicCredentials:
    """The user name and password of HTTP Basic authentication."""

    username: str
    password: str


class HTTPBearer(SecurityBase):
    """``Authorization: Bearer <token>`` (RFC 6750); returns the credentials.

    The scheme word is configurable: ``HTTPBearer(scheme="Token")`` reads
    ``Authorization: Token <token>`` (the word is matched case-insensitively). OpenAPI has
    no portable way to say "an HTTP scheme named Token" (``http`` schemes are the IANA
    registered ones, and Swagger UI answers "unsupported scheme" for any but ``basic`` and
    ``bearer``), so a word other than ``Bearer`` is documented as an ``apiKey`` in the
    ``Authorization`` header whose description names the word: Swagger UI's *Authorize*
    box then takes the whole value, ``Token <token>``.

    Args:
        scheme: The scheme word before the token (``"Bearer"`` by default).
        bearer_format: A hint for the token format in OpenAPI (e.g. ``"JWT"``).
        scheme_name: The OpenAPI scheme name.
        description: The OpenAPI description.
        auto_error: Raise 401 when the token is missing (else return ``None``); OpenAPI
            lists an optional scheme as ``[{scheme: []}, {}]`` (anonymous access allowed).
    """

    def __init__(
        self,
        *,
        scheme: str = "Bearer",
        bearer_format: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.scheme = _scheme_word(scheme)
        super().__init__(
            _http_scheme(self.scheme, bearer_format, description),
            scheme_name=scheme_name,
            auto_error=auto_error,
        )

    def challenge(self) -> str:
        """The scheme word (``Bearer`` unless configured otherwise)."""
        return self.scheme

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        found = _authorization(request)
        if found is None:
            if self.auto_error:
                raise self.unauthorized(
                    f"Not authenticated: send an Authorization: {self.scheme} header"
                )
            return None
        scheme, credentials = found
        if scheme.lower() != self.scheme.lower() or not credentials:
            if self.auto_error:
                raise self.unauthorized(
                    f"Invalid authentication credentials: expected a {self.scheme} token"
                )
            return None
        return HTTPAuthorizationCredentials(scheme, credentials)


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def _scheme_word(word: str) -> str:
    """Check an auth scheme word is an HTTP token (RFC 9110 ``auth-scheme``)."""
    if not word or not set(word) <= _TOKEN_CHARS:
        raise ValueError(f"scheme must be a single HTTP token such as 'Bearer', got {word!r}")
    return word


def _http_scheme(word: str, bearer_format: str | None, description: str | None) -> dict[str, Any]:
    """The OpenAPI object for ``Authorization: <word> <token>`` (see :class:`HTTPBearer`)."""
    if word.lower() == "bearer":
        scheme: dict[str, Any] = {"type": "http", "scheme": "bearer"}
        if bearer_format:
            scheme["bearerFormat"] = bearer_format
        if description:
            scheme["description"] = description
        return scheme
    how = f"Send `Authorization: {word} <token>` (enter `{word} <token>` in Swagger UI)."
    return {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": f"{description} {how}" if description else how,
    }


class HTTPBasic(SecurityBase):
    """``Authorization: Basic <base64(user:password)>`` (RFC 7617); returns the credentials.

    Args:
        realm: The protection space named in the challenge (``"api"`` when not given; with
            the ``"fastapi"`` wording, a challenge without one is a bare ``Basic``).
        scheme_name: The OpenAPI scheme name.
        description: The OpenAPI description.
        auto_error: Raise 401 when credentials are missing or malformed (else return ``None``).
    """

    def __init__(
        self,
        *,
        realm: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if realm is not None and ('"' in realm or "\\" in realm):
            raise ValueError("HTTPBasic(realm=...) must not contain quotes or backslashes")
        self.realm = realm or "api"
        self.realm_given = realm is not None
        super().__init__(
            {"type": "http", "scheme": "basic"},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    def challenge(self) -> str:
        """``Basic realm="..."``, announcing UTF-8 (RFC 7617).

        With the ``"fastapi"`` wording: FastAPI's ``Basic`` (``Basic realm="..."`` when a
        realm was given).
        """
        if self.wording == "fastapi":
            return f'Basic realm="{self.realm}"' if self.realm_given else "Basic"
        return f'Basic realm="{self.realm}", charset="UTF-8"'

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        found = _authorization(request)
        if found is None:
            if self.auto_error:
                raise self.unauthorized("Not authenticated: send an Authorization: Basic header")
            return None
        scheme, credentials = found
        decoded = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = None
        if decoded is None or ":" not in decoded:
            if self.auto_error:
                raise self.unauthorized(
                    "Invalid authentication credentials: expected Basic base64(user:password)"
                )
            return None
        username, _, password = decoded.partition(":")
        return HTTPBasicCredentials(username, password)


# -- API keys ------------------------------------------------------------------------------------


class _APIKey(SecurityBase):
    location = ""

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.name = name
        super().__init__(
            {"type": "apiKey", "in": self.location, "name": name},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    def challenge(self) -> str:
        """``APIKey`` (no standard scheme exists; a 401 must still carry a challenge).

        keel names where the key goes; the ``"fastapi"`` wording sends a bare ``APIKey``.
        """
        if self.wording == "fastapi":
            return "APIKey"
        return f'APIKey in="{self.location}", name="{self.name}"'

    def _value(self, request: Request) -> str | None:
        raise NotImplementedError

    async def __call__(self, request: Request) -> str | None:
        value = self._value(request)
        if not value:
            if self.auto_error:
                raise self.unauthorized(
                    f"Not authenticated: the {self.location} {self.name!r} is missing"
                )
            return None
        return value


class APIKeyHeader(_APIKey):
    """An API key in a request header (``name`` is the header, e.g. ``"X-API-Key"``)."""

    location = "header"

    def _value(self, request: Request) -> str | None:
        value: str | None = request.headers.get(self.name.lower())
        return value


class APIKeyQuery(_APIKey):
    """An API key in the query string (``name`` is the parameter)."""

    location = "query"

    def _value(self, request: Request) -> str | None:
        return request.query_params.get(self.name)


class APIKeyCookie(_APIKey):
    """An API key in a cookie (``name`` is the cookie)."""

    location = "cookie"

    def _value(self, request: Request) -> str | None:
        return request.cookies.get(self.name)


# -- OAuth2 --------------------------------------------------------------------------------------


class OAuth2(SecurityBase):
    """A generic OAuth2 scheme with the given OpenAPI ``flows``; returns the bearer token.

    Args:
        flows: The OpenAPI OAuth Flows Object, e.g. ``{"password": {"tokenUrl": ...}}``.
        scheme: The word before the token in ``Authorization`` (``"Bearer"``; OAuth2
            clients such as Swagger UI always send ``Bearer``, so change it only for
            clients of your own).
        scheme_name: The OpenAPI scheme name.
        description: The OpenAPI description.
        auto_error: Raise 401 when the token is missing (else return ``None``).
    """

    def __init__(
        self,
        *,
        flows: Mapping[str, Any],
        scheme: str = "Bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.scheme = _scheme_word(scheme)
        super().__init__(
            {"type": "oauth2", "flows": dict(flows)},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: Request) -> str | None:
        found = _authorization(request)
        if found is None or found[0].lower() != self.scheme.lower() or not found[1]:
            if self.auto_error:
                raise self.unauthorized(
                    f"Not authenticated: send an Authorization: {self.scheme} header"
                )
            return None
        return found[1]

    def challenge(self) -> str:
        """The scheme word (``Bearer`` unless configured otherwise)."""
        return self.scheme


class OAuth2PasswordBearer(OAuth2):
    """OAuth2 password flow: the client gets a token from ``token_url`` and sends it as
    ``Authorization: Bearer <token>``; returns the token string.

    Args:
        token_url: Where clients post ``OAuth2PasswordRequestForm`` (``tokenUrl=`` works too).
        scopes: The scopes the API knows, ``{name: description}``.
        scheme: The word before the token (``"Bearer"``; see :class:`OAuth2`).
        scheme_name: The OpenAPI scheme name.
        description: The OpenAPI description.
        auto_error: Raise 401 when the token is missing (else return ``None``).
    """

    def __init__(
        self,
        token_url: str | None = None,
        *,
        tokenUrl: str | None = None,  # FastAPI's spelling
        scopes: Mapping[str, str] | None = None,
        refresh_url: str | None = None,
        scheme: str = "Bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        url = token_url or tokenUrl
        if not url:
            raise TypeError("OAuth2PasswordBearer needs token_url, e.g. token_url='/token'")
        self.token_url = url
        flow: dict[str, Any] = {"tokenUrl": url, "scopes": dict(scopes or {})}
        if refresh_url:
            flow["refreshUrl"] = refresh_url
        super().__init__(
            flows={"password": flow},
            scheme=scheme,
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )


class OAuth2PasswordRequestForm:
    """The OAuth2 password grant form (RFC 6749 §4.3); use as ``Depends()``.

    ``form: Annotated[OAuth2PasswordRequestForm, Depends()]`` reads the url-encoded fields
    ``username``, ``password``, ``scope`` (space-separated, split into :attr:`scopes`),
    ``grant_type`` (``"password"`` when given), ``client_id`` and ``client_secret``.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self.username!r}, scopes={self.scopes!r})"


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """:class:`OAuth2PasswordRequestForm` that requires ``grant_type=password``."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
