"""Password hashing (argon2id) and password validation.

Hashing runs in keel's thread pool (``keel.run_sync``): argon2 is deliberately slow and
must not stall the event loop. Validators say what is wrong with a new password in a
sentence a user can act on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from difflib import SequenceMatcher
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from keel._concurrency import run_sync

__all__ = [
    "PasswordError",
    "PasswordValidator",
    "common_password",
    "default_validators",
    "hash_password",
    "hasher",
    "minimum_length",
    "needs_rehash",
    "not_numeric",
    "not_similar",
    "spend_dummy_check",
    "validate_password",
    "verify_password",
]

hasher = PasswordHasher()
"""The argon2id hasher (argon2-cffi's defaults, RFC 9106's low-memory profile). Replace its
parameters by assigning another ``PasswordHasher`` here at startup: stored hashes made with
other parameters are re-hashed at the user's next login."""

PasswordValidator = Callable[[str, Sequence[str]], "str | None"]
"""A validator: ``(password, [email, username, ...]) -> problem sentence or None``."""


class PasswordError(ValueError):
    """A new password was refused; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed in the thread pool)."""
    current = hasher
    return await run_sync(current.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant time, in the thread pool).

    An empty or malformed ``stored`` hash never matches.
    """
    if not stored:
        await spend_dummy_check(password)  # same work: no timing difference
        return False
    return await run_sync(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than :data:`hasher`'s."""
    try:
        return hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


_dummy_hashes: dict[int, str] = {}


def _check_dummy(password: str) -> bool:
    """Verify ``password`` against a hash made with the current parameters (thread pool)."""
    current = hasher
    stored = _dummy_hashes.get(id(current))
    if stored is None:
        stored = _dummy_hashes[id(current)] = current.hash("keel-dummy-password-for-timing")
    return _verify(stored, password)


async def spend_dummy_check(password: str) -> None:
    """Do the work of one password check against nothing (unknown users): an unknown user
    costs what a wrong password costs."""
    await run_sync(_check_dummy, password)


# -- validators ---------------------------------------------------------------------------


def minimum_length(length: int = 8) -> PasswordValidator:
    """Refuse passwords shorter than ``length`` characters."""

    def check(password: str, context: Sequence[str]) -> str | None:
        if len(password) < length:
            return f"The password is too short: use at least {length} characters."
        return None

    return check


def not_numeric(password: str, context: Sequence[str]) -> str | None:
    """Refuse passwords made only of digits."""
    if password.isdigit():
        return "The password is entirely numeric: add letters or symbols."
    return None


_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def _common() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def common_password(password: str, context: Sequence[str]) -> str | None:
    """Refuse the passwords of keel's bundled list of common choices (case-insensitive)."""
    if password.strip().lower() in _common():
        return "The password is too common: pick one that is not on lists of usual choices."
    return None


def not_similar(max_similarity: float = 0.7) -> PasswordValidator:
    """Refuse passwords too close to the user's email, its local part, or username."""

    def check(password: str, context: Sequence[str]) -> str | None:
        lowered = password.lower()
        for value in _attribute_parts(context):
            if len(value) < 3:
                continue
            matcher = SequenceMatcher(a=lowered, b=value)
            if matcher.quick_ratio() >= max_similarity and matcher.ratio() >= max_similarity:
                return "The password is too similar to your email or username."
        return None

    return check


def _attribute_parts(context: Iterable[str]) -> list[str]:
    parts: list[str] = []
    for value in context:
        if not value:
            continue
        lowered = value.lower()
        parts.append(lowered)
        if "@" in lowered:
            parts.append(lowered.rpartition("@")[0])
        parts += [p for p in re.split(r"[\W_]+", lowered) if p]
    return parts


def default_validators() -> list[PasswordValidator]:
    """At least 8 characters, not all digits, not common, not similar to email/username."""
    return [minimum_length(8), not_numeric, common_password, not_similar()]


def validate_password(
    password: str,
    context: Sequence[str] = (),
    validators: Sequence[PasswordValidator] | None = None,
) -> None:
    """Raise :class:`PasswordError` listing every rule ``password`` breaks.

    Args:
        password: The new password.
        context: The user's email, username and the like (for the similarity rule).
        validators: The rules; :func:`default_validators` when omitted.
    """
    rules = default_validators() if validators is None else validators
    problems = [p for p in (rule(password, context) for rule in rules) if p]
    if problems:
        raise PasswordError(problems)
