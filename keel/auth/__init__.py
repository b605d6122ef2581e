"""keel.auth: users, passwords, permissions and API tokens on keel.db.

Example:
    from keel.auth import Auth, CurrentUser

    auth = Auth()              # keel's User model, opaque API tokens
    auth.init_app(app)
    app.include_router(auth.router())

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str | None]:
        return {"email": user.email}

``import keel`` never imports this package: it is loaded when an app uses it.
"""

from __future__ import annotations

from keel.auth.config import Auth, Authenticated, UserLoader, auth_of
from keel.auth.dependencies import (
    CurrentAuth,
    CurrentUser,
    OptionalUser,
    StaffUser,
    SuperUser,
    authenticated,
    current_user,
    optional_user,
    require_permission,
    require_scopes,
    require_staff,
    require_superuser,
    token_loader,
)
from keel.auth.login import login, logout, session_loader
from keel.auth.mail import ConsoleMail, Mail, MailBackend, MemoryMail
from keel.auth.models import (
    USER_TABLE,
    AbstractUser,
    APIToken,
    Group,
    Permission,
    RefreshToken,
)
from keel.auth.passwords import (
    PasswordError,
    PasswordValidator,
    common_password,
    default_validators,
    hash_password,
    minimum_length,
    not_numeric,
    not_similar,
    validate_password,
    verify_password,
)
from keel.auth.routes import auth_router
from keel.auth.tokens import (
    InvalidToken,
    IssuedToken,
    TokenPair,
    create_token,
    issue_jwt_pair,
    password_fingerprint,
    revoke_token,
)
from keel.auth.user import User
from keel.auth.users import (
    InvalidIdentifier,
    add_to_group,
    authenticate,
    create_user,
    find_user,
    get_permissions,
    grant,
    has_permission,
    normalize_email,
    revoke_all_tokens,
    set_password,
    sync_permissions,
    user_model,
)

__all__ = [
    "APIToken",
    "AbstractUser",
    "Auth",
    "Authenticated",
    "ConsoleMail",
    "CurrentAuth",
    "CurrentUser",
    "Group",
    "InvalidIdentifier",
    "InvalidToken",
    "IssuedToken",
    "Mail",
    "MailBackend",
    "MemoryMail",
    "OptionalUser",
    "PasswordError",
    "PasswordValidator",
    "Permission",
    "RefreshToken",
    "StaffUser",
    "SuperUser",
    "TokenPair",
    "USER_TABLE",
    "User",
    "UserLoader",
    "add_to_group",
    "auth_of",
    "auth_router",
    "authenticate",
    "authenticated",
    "common_password",
    "create_token",
    "create_user",
    "current_user",
    "default_validators",
    "find_user",
    "get_permissions",
    "grant",
    "has_permission",
    "hash_password",
    "issue_jwt_pair",
    "login",
    "logout",
    "minimum_length",
    "normalize_email",
    "not_numeric",
    "not_similar",
    "optional_user",
    "password_fingerprint",
    "require_permission",
    "require_scopes",
    "require_staff",
    "require_superuser",
    "revoke_all_tokens",
    "revoke_token",
    "session_loader",
    "set_password",
    "sync_permissions",
    "token_loader",
    "user_model",
    "validate_password",
    "verify_password",
]
