"""The platform instance's id: a random name kept in the home (``instance-id``), made once.
The Unix accounts the platform creates carry it (``isolation.names.gecos``), so that several
platform homes on one host tell their accounts apart. A copy of a home (a restore from a
backup running beside the original) is the same instance until its ``instance-id`` is
deleted before its first start."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

FILE = "instance-id"
_VALID = re.compile(r"^[a-z0-9]{8,32}$")


def instance_id(home: Path) -> str:
    """The id in ``home/instance-id``, made (12 random base-36-ish characters) if missing."""
    path = home / FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        fd = None
    if fd is None:
        text = path.read_text().strip()
        if not _VALID.match(text):
            raise ValueError(f"{path} does not hold an instance id ([a-z0-9]{{8,32}}): {text!r}")
        return text
    new = secrets.token_hex(6)
    with os.fdopen(fd, "w") as f:
        f.write(new + "\n")
    return new
