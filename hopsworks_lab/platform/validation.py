"""Names that end up in Unix user names, paths and certificate subjects: kept strict."""

from __future__ import annotations

import re

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


def password(value: str) -> str:
    if not (PASSWORD_MIN <= len(value) <= PASSWORD_MAX):
        raise Unprocessable(
            f"a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            code="weak_password",
        )
    return value


def project_user(project: str, user: str) -> str:
    """The principal that runs code for ``user`` in ``project``."""
    return f"{project}__{user}"
