"""Operating-system names for platform principals (pure: no I/O).

Linux caps user and group names at 32 characters and allows ``^[a-z_][a-z0-9_-]*$``.
Project and user names are validated to ``[a-z0-9_]`` without ``__`` (see
``platform.validation``), so the project-user principal ``project__user`` is usually a valid
Unix name as is. Where it is not (longer than 32 characters, or made of characters Linux
rejects), and for every group, the name is a readable prefix plus a hash:

- project-user: ``project__user`` if it fits, else ``<first 18 chars>-<13 base32 of sha256>``
- dataset groups: ``<project>-<dataset>`` cleaned and cut to 16 characters, then
  ``-<13 base32 of sha256("project/dataset")>``, then ``-w`` (writers) / ``-r`` (readers)
- project group: ``<project>`` cut to 16, ``-<13 base32 of sha256("project:" + project)>-p``

The hash is 65 bits (13 base32 characters): no accidental collision in practice, and a
deliberate one costs a 65-bit second preimage. The shapes cannot collide with one another:
full project-user names never contain ``-`` (validated names cannot), short ones end with
``-`` + 13 characters, and groups end with ``-w``, ``-r`` or ``-p``. A collision with an
existing account is fail-safe anyway: ``useradd``/``groupadd`` refuse an existing name and
the change is rolled back.

Ownership: the comment (GECOS) field of every account says it is hopsworks-lab's, which
principal it runs, and which platform instance made it (``gecos``/``parse_gecos``), so that
several platform homes can share a host without taking or removing one another's accounts."""

from __future__ import annotations

import base64
import hashlib
import re

NAME_MAX = 32  # useradd/groupadd limit on Linux
VALID_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")
_FULL_FORM = re.compile(r"^[a-z_][a-z0-9_]*$")  # what ``project__user`` may be kept as
_HASH_LEN = 13  # base32 characters: 65 bits
_USER_PREFIX = NAME_MAX - 1 - _HASH_LEN  # 18
_GROUP_PREFIX = NAME_MAX - 1 - _HASH_LEN - 2  # 16
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_]")

GECOS_PREFIX = "hopsworks-lab "


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:_HASH_LEN]


def _clean(text: str) -> str:
    """Lowercase, every character Linux does not allow (and ``-``, our separator) as ``_``."""
    return _NOT_NAME_CHAR.sub("_", text.lower())


def _start(name: str) -> str:
    """A name must not start with a digit (nor ``-``)."""
    return name if name and name[0] in "abcdefghijklmnopqrstuvwxyz_" else "_" + name


def unix_user(project: str, user: str) -> str:
    """The Unix account that runs code for ``user`` in ``project``."""
    full = f"{project}__{user}"
    if len(full) <= NAME_MAX and _FULL_FORM.match(full):
        return full
    return f"{_start(_clean(full))[:_USER_PREFIX]}-{_digest(full)}"


def dataset_groups(project: str, dataset: str) -> tuple[str, str]:
    """``(writers, readers)`` groups of a dataset."""
    prefix = _start(f"{_clean(project)}-{_clean(dataset)}")[:_GROUP_PREFIX]
    base = f"{prefix}-{_digest(f'{project}/{dataset}')}"
    return f"{base}-w", f"{base}-r"


def project_group(project: str) -> str:
    """Every member of ``project``: may list the project directory."""
    return f"{_start(_clean(project))[:_GROUP_PREFIX]}-{_digest(f'project:{project}')}-p"


# what project and dataset groups look like (dataset_groups, project_group)
GROUP_SHAPE = re.compile(
    rf"^[a-z_][a-z0-9_]{{0,{_GROUP_PREFIX - 1}}}-[a-z2-7]{{{_HASH_LEN}}}-[wrp]$"
)


def gecos(project: str, user: str, instance: str = "") -> str:
    """The comment field of the account: says who it is even when the name is short, and
    which platform instance owns it (``hopsworks-lab <project>__<user> <instance>``)."""
    text = f"{GECOS_PREFIX}{project}__{user}" + (f" {instance}" if instance else "")
    return text.replace(":", "_").replace("\n", " ").replace(",", "_")


def parse_gecos(comment: str) -> tuple[str, str] | None:
    """``(principal, instance)`` of an account made by hopsworks-lab (instance ``""``: made
    before accounts were tagged); None for any other account."""
    if not comment.startswith(GECOS_PREFIX):
        return None
    parts = comment[len(GECOS_PREFIX) :].split(" ")
    if len(parts) == 1 and parts[0]:
        return parts[0], ""
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return None
