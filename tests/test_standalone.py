"""Standalone lab (no hub): which platform user the Jupyter user acts as."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.server.standalone import local_actor


def _signed_in(user: object, authorization: str = "") -> SimpleNamespace:
    headers = {"Authorization": authorization} if authorization else {}
    return SimpleNamespace(current_user=user, request=SimpleNamespace(headers=headers))


def test_acts_as_the_configured_user(platform: Platform) -> None:
    platform.users.create(Actor.system(), "dora", "dora-password-1")
    authenticate = local_actor(platform, "dora")
    actor = asyncio.run(authenticate(_signed_in("jupyter-user")))  # type: ignore[arg-type]
    assert actor is not None and actor.username == "dora" and not actor.is_admin
    # Not signed in to Jupyter: nobody.
    assert asyncio.run(authenticate(_signed_in(None))) is None  # type: ignore[arg-type]
    # A request with an API key skipped Jupyter's XSRF check: a bad key is never taken for
    # the Jupyter user.
    keyed = _signed_in("jupyter-user", "ApiKey not.a-key")
    assert asyncio.run(authenticate(keyed)) is None  # type: ignore[arg-type]


def test_an_unknown_user_is_a_clear_error(platform: Platform) -> None:
    with pytest.raises(ValueError, match="standalone_user: no platform user 'nobody'"):
        local_actor(platform, "nobody")
