"""Names that end up in Unix user names, paths and certificate subjects: kept strict."""

from __future__ import annotations

import functools
import re
import secrets

from .errors import Unprocessable

# Lowercase, digits and single underscores; no "__" (it separates project and user in the
# project-user principal "project__user").
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

USERNAME_MAX = 32
# "project__user" is a certificate CN, which X.509 caps at 64 characters: 30 + 2 + 32.
PROJECT_MAX = 30
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
RESERVED_USERNAMES = frozenset({"me"})  # "api/users/me" is the caller


def username(value: str) -> str:
    if (
        not (2 <= len(value) <= USERNAME_MAX)
        or not _NAME.match(value)
        or value in RESERVED_USERNAMES
    ):
        raise Unprocessable(
            f"invalid user name {value!r}: 2-{USERNAME_MAX} characters, lowercase letters, "
            "digits and single underscores, starting with a letter",
            code="invalid_username",
        )
    return value


def project_name(value: str) -> str:
    if not (2 <= len(value) <= PROJECT_MAX) or not _NAME.match(value):
        raise Unprocessable(
            f"invalid project name {value!r}: 2-{PROJECT_MAX} characters, lowercase letters, "
            "digits and single underscores, starting with a letter",
            code="invalid_project_name",
        )
    return value


def password(value: str, user: str | None = None) -> str:
    """A new password of ``user``, checked as NIST SP 800-63B asks: a length, and not a
    commonly used or context-specific one. Refused: one on the bundled list of common
    passwords (also with digits and symbols around a listed word: ``Password123!``),
    one of one or two repeated characters, and one that is the user name (or the
    service's name) with fewer than ``PASSWORD_MIN`` other characters: a name an
    attacker knows adds no strength, so it does not count towards the length."""
    if not (PASSWORD_MIN <= len(value) <= PASSWORD_MAX):
        raise _weak(f"a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    folded = value.casefold()
    if folded in common_passwords() or _core(folded) in common_passwords():
        raise _weak("this password is among the most commonly used ones: choose another")
    if len(set(folded)) <= 2:
        raise _weak("a password of one or two repeated characters is easy to guess")
    for word in ({user.casefold()} if user else set()) | CONTEXT_WORDS:
        if word in folded and len(folded.replace(word, "")) < PASSWORD_MIN:
            raise _weak(
                f"a password needs {PASSWORD_MIN} characters besides the user name "
                "or the service's name"
            )
    return value


CONTEXT_WORDS = frozenset({"hopsworks"})
# Letters at the heart of a password: what is left without digits and symbols around it.
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def _core(folded: str) -> str:
    return _AROUND.sub("", folded)


def _weak(message: str) -> Unprocessable:
    return Unprocessable(message, code="weak_password")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of public breach corpora, as the zxcvbn password
    strength estimator ranks them (its frequency lists, lowercase)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def generate_password(user: str | None = None) -> str:
    """A random password that passes :func:`password` (one in a few thousand random
    strings contains a short user name and is drawn again)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            return password(candidate, user)
        except Unprocessable:
            continue


def project_user(project: str, user: str) -> str:
    """The principal that runs code for ``user`` in ``project``."""
    return f"{project}__{user}"
