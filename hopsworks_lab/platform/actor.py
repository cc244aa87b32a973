"""Who is asking. Every service call takes an ``Actor`` and authorizes it itself."""

from __future__ import annotations

from dataclasses import dataclass, field

# Scopes an API key can carry. A session (password login) holds all of them.
SCOPES: tuple[str, ...] = (
    "project",
    "dataset.read",
    "dataset.write",
    "job",
    "kafka",
    "featurestore",
    "models",
    "admin",
)


@dataclass(frozen=True)
class Actor:
    user_id: int | None  # None only for the built-in system actor (CLI administration)
    username: str
    is_admin: bool
    via: str  # "session" | "apikey" | "local" | "system"
    scopes: frozenset[str] | None = None  # None: every scope
    project_id: int | None = None  # set when an API key is bound to one project
    # Code running in a project (kernel, job, server) as the principal project__user, not
    # the person: it may process the project's data but what it reads is not an export.
    project_user: bool = False
    remote_ip: str | None = field(default=None, compare=False)

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, username="system", is_admin=True, via="system")

    @property
    def is_system(self) -> bool:
        return self.via == "system"

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes
