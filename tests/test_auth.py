"""Login, lockout, blocking, TOTP second factor, sessions and API keys, over REST,
against SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import jwt
import pyotp
import pytest
from conftest import ADMIN_PASSWORD, Client

from hopsworks_lab.api.handlers import CLIENT_HEADER
from hopsworks_lab.platform import Platform, validation
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.ratelimit import FailureLimiter, client_address


def add_user(admin: Client, name: str, password: str = "secret-pass-1", **kw: object) -> None:
    r = admin.post("api/users", json={"username": name, "password": password, **kw})
    assert r.status_code == 201, r.text


def audit_tail(platform: Platform, n: int = 5) -> list:
    records = platform.audit.list(Actor.system(), limit=1000)
    return records[-n:]


def test_login_returns_a_session_that_identifies_the_user(anon: Client) -> None:
    r = anon.post("api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["username"] == "admin" and body["user"]["is_admin"] is True
    me = Client(anon.base, f"Bearer {body['token']}").get("api/users/me")
    assert me.status_code == 200 and me.json()["username"] == "admin"


@pytest.mark.parametrize("username", ["admin", "nobody"])
def test_wrong_credentials_are_refused_alike_and_audited(
    anon: Client, platform: Platform, username: str
) -> None:
    r = anon.post("api/auth/login", json={"username": username, "password": "wrong-password"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_credentials"  # same answer for unknown users
    last = audit_tail(platform, 1)[0]
    assert (last.action, last.outcome, last.actor) == ("auth.login", "failed", username)


def test_successful_login_is_audited(anon: Client, platform: Platform) -> None:
    anon.login("admin", ADMIN_PASSWORD)
    last = audit_tail(platform, 1)[0]
    assert (last.action, last.outcome, last.actor) == ("auth.login", "ok", "admin")


def test_lockout_after_repeated_failures_and_unblock_lifts_it(
    anon: Client, admin: Client, platform: Platform
) -> None:
    add_user(admin, "alice")
    threshold = platform.config.lockout_threshold
    for _ in range(threshold):
        r = anon.post("api/auth/login", json={"username": "alice", "password": "nope-nope"})
        assert r.status_code == 401
    # Locked now: even the right password is refused, with the answer a wrong password or
    # an unknown name gets (a lock that a right guess showed through would not stop
    # guessing, and a distinct answer would tell that the name exists).
    r = anon.post("api/auth/login", json={"username": "alice", "password": "secret-pass-1"})
    unknown = anon.post("api/auth/login", json={"username": "nobody", "password": "x" * 9})
    assert r.status_code == unknown.status_code == 401
    assert r.json() == unknown.json()
    assert r.json()["error"] == "invalid_credentials" and "locked" in r.json()["message"]
    last = audit_tail(platform, 2)[0]
    assert (last.actor, last.outcome, last.detail["reason"]) == ("alice", "denied", "locked")
    r = admin.patch("api/users/alice", json={"status": "active"})
    assert r.status_code == 200
    anon.login("alice", "secret-pass-1")


class HasherSpy:
    """The platform's PasswordHasher, recording the hash each verification runs against."""

    def __init__(self, real: object) -> None:
        self.real, self.verified = real, []

    def verify(self, hash_: str, password: str) -> bool:
        self.verified.append(hash_)
        return self.real.verify(hash_, password)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_unknown_wrong_locked_and_blocked_cannot_be_told_apart(
    anon: Client, admin: Client, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same status, same body, and the same work (one Argon2 verification against a hash
    of the same parameters) for an unknown name, a wrong password, a locked account and a
    blocked one, as long as the password is not the right one."""
    for name in ("alice", "bob", "carol"):
        add_user(admin, name)
    for _ in range(platform.config.lockout_threshold):
        anon.post("api/auth/login", json={"username": "bob", "password": "nope-nope"})
    assert admin.patch("api/users/carol", json={"status": "blocked"}).status_code == 200
    spy = HasherSpy(platform.users.hasher)
    monkeypatch.setattr(platform.users, "hasher", spy)
    answers, costs = [], []
    for name, password in [
        ("nobody", "secret-pass-1"),  # unknown
        ("alice", "wrong-pass-1"),  # wrong password
        ("bob", "secret-pass-1"),  # locked (the right password)
        ("carol", "wrong-pass-1"),  # blocked, wrong password
    ]:
        spy.verified.clear()
        r = anon.post("api/auth/login", json={"username": name, "password": password})
        answers.append((r.status_code, r.json(), r.headers.get("Retry-After")))
        assert len(spy.verified) == 1, name
        costs.append(spy.verified[0].rsplit("$", 2)[0])  # $argon2id$v=19$m=...,t=...,p=...
    assert all(a == answers[0] for a in answers), answers
    assert answers[0][0] == 401 and answers[0][1]["error"] == "invalid_credentials"
    assert len(set(costs)) == 1, costs
    # Only the right password tells a blocked account.
    r = anon.post("api/auth/login", json={"username": "carol", "password": "secret-pass-1"})
    assert r.status_code == 403 and r.json()["error"] == "account_blocked"


def test_failed_logins_from_one_address_are_limited_whatever_the_names(
    anon: Client, admin: Client, platform: Platform
) -> None:
    """Guessing across many names (which no per-account lockout sees) is stopped per client
    address; the hub's forwarded browser address counts on its own, and only the hub (an
    administrator's key) can forward one."""
    add_user(admin, "alice")
    alice_key = anon.login("alice", "secret-pass-1").post(
        "api/users/me/apikeys", json={"name": "k", "scopes": ["project"]}
    )
    hub_key = admin.post("api/users/me/apikeys", json={"name": "hub", "scopes": ["admin"]})
    limit = platform.config.login_rate_limit
    assert limit > platform.config.lockout_threshold
    for i in range(limit):
        r = anon.post("api/auth/login", json={"username": f"user{i}", "password": "guess-123"})
        assert r.status_code == 401, i
    right = {"username": "alice", "password": "secret-pass-1"}
    r = anon.post("api/auth/login", json=right)
    assert r.status_code == 429 and r.json()["error"] == "too_many_requests"
    assert 0 < int(r.headers["Retry-After"]) <= platform.config.login_rate_window
    # Made-up addresses do not help a client ...
    forged = {CLIENT_HEADER: "192.0.2.8"}
    assert anon.post("api/auth/login", json=right, headers=forged).status_code == 429
    keyed = anon.as_key(alice_key.json()["key"])
    assert keyed.post("api/auth/login", json=right, headers=forged).status_code == 429
    # ... but the hub's logins for another browser are that browser's.
    hub = anon.as_key(hub_key.json()["key"])
    r = hub.post("api/auth/login", json=right, headers={CLIENT_HEADER: "192.0.2.7"})
    assert r.status_code == 200, r.text
    last = audit_tail(platform, 1)[0]
    assert (last.action, last.actor) == ("auth.login", "alice")
    # No account was locked by the spray.
    assert platform.users.lookup(Actor.system(), "alice").locked_until is None


def test_failure_limiter_forgets_after_its_window() -> None:
    now = [100.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.fail("a") for _ in range(3)] == [False, False, True]
    assert limiter.retry_after("a") == 60 and limiter.retry_after("b") is None
    now[0] += 59.5
    assert limiter.retry_after("a") == 1
    now[0] += 1
    assert limiter.retry_after("a") is None
    assert FailureLimiter(0, 60).fail("a") is False  # 0: no limit


def test_sessions_end_on_password_change_and_block_not_on_guessing(
    anon: Client, admin: Client, platform: Platform
) -> None:
    add_user(admin, "alice")
    first = anon.login("alice", "secret-pass-1")
    key = first.post("api/users/me/apikeys", json={"name": "k", "scopes": ["project"]}).json()
    other = anon.login("alice", "secret-pass-1")
    r = first.put(
        "api/users/me/password",
        json={"old_password": "secret-pass-1", "new_password": "new-secret-2"},
    )
    assert r.status_code == 204
    for session in (first, other):
        r = session.get("api/users/me")
        assert r.status_code == 401 and r.json()["error"] == "session_revoked"
    assert anon.as_key(key["key"]).get("api/projects").status_code == 200  # keys stay
    # A block ends sessions for good: unblocking does not bring them back.
    second = anon.login("alice", "new-secret-2")
    assert admin.patch("api/users/alice", json={"status": "blocked"}).status_code == 200
    assert admin.patch("api/users/alice", json={"status": "active"}).status_code == 200
    assert second.get("api/users/me").json()["error"] == "session_revoked"
    # Somebody else's guessing does not: it would sign anybody out at will.
    third = anon.login("alice", "new-secret-2")
    for _ in range(platform.config.lockout_threshold):
        anon.post("api/auth/login", json={"username": "alice", "password": "nope-nope"})
    assert third.get("api/users/me").status_code == 200
    assert admin.get("api/users/me").status_code == 200


def _login(anon: Client, password: str, address: str) -> int:
    """A login of alice's through the hub's proxy (loopback, a trusted proxy), which appends
    the address the browser reached it from to X-Forwarded-For."""
    headers = {"X-Forwarded-For": f"10.9.9.9, {address}", "X-Real-Ip": "192.0.2.99"}
    body = {"username": "alice", "password": password}
    return anon.post("api/auth/login", json=body, headers=headers).status_code


def test_a_guesser_locks_an_account_for_itself_only(
    anon: Client, admin: Client, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures in a row lock the account for the address they come from; its holder,
    elsewhere, still signs in and keeps the sessions it has. Failures from many addresses
    together lock it for everyone (guessing spread over addresses), sessions still kept."""
    add_user(admin, "alice")
    session = anon.login("alice", "secret-pass-1")
    attacker, victim = "203.0.113.9", "198.51.100.7"
    for _ in range(platform.config.lockout_threshold):
        assert _login(anon, "nope-nope", attacker) == 401
    assert _login(anon, "secret-pass-1", attacker) == 401  # locked for the guesser
    last = audit_tail(platform, 1)[0]
    assert (last.detail["reason"], last.detail["ip"]) == ("locked", attacker)
    assert _login(anon, "secret-pass-1", victim) == 200  # not for its holder
    assert session.get("api/users/me").status_code == 200
    assert _login(anon, "secret-pass-1", attacker) == 401  # the holder's success lifts nothing
    # X-Real-Ip and the hops a client wrote itself do not count: only the proxy's hop.
    assert _login(anon, "secret-pass-1", "192.0.2.55") == 200
    # Forwarded addresses count only from a trusted proxy.
    monkeypatch.setattr(platform.config, "trusted_proxies", [])
    for _ in range(platform.config.lockout_threshold):
        assert _login(anon, "nope-nope", f"192.0.2.{_}") == 401
    assert _login(anon, "secret-pass-1", victim) == 401  # all counted against 127.0.0.1
    monkeypatch.setattr(platform.config, "trusted_proxies", ["127.0.0.1", "::1"])
    assert _login(anon, "secret-pass-1", victim) == 200
    # Spread over addresses, failures lock the account for every address.
    monkeypatch.setattr(platform.config, "lockout_account_threshold", 8)
    for i in range(8):
        assert _login(anon, "nope-nope", f"192.0.2.{100 + i}") == 401
    assert _login(anon, "secret-pass-1", victim) == 401
    assert session.get("api/users/me").status_code == 200
    assert admin.patch("api/users/alice", json={"status": "active"}).status_code == 200
    assert _login(anon, "secret-pass-1", attacker) == 200  # "active" lifted both kinds


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),  # via the proxy
        ("127.0.0.1", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the client wrote 1.2.3.4
        ("127.0.0.1", "198.51.100.7, 10.0.0.2", "198.51.100.7"),  # 10.0.0.2: a trusted hop
        ("127.0.0.1", None, "127.0.0.1"),  # straight from loopback
        ("127.0.0.1", "bogus", "127.0.0.1"),
        ("127.0.0.1", "1.2.3.4, bogus", "127.0.0.1"),
        ("::ffff:127.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("198.51.100.9", "1.2.3.4", "198.51.100.9"),  # not a proxy: its header is its own
        ("0.0.0.0", "1.2.3.4", "0.0.0.0"),
    ],
)
def test_client_address_reads_forwarded_for_from_the_right(
    peer: str, forwarded: str | None, expected: str
) -> None:
    trusted = ["127.0.0.1", "::1", "10.0.0.0/8"]
    assert client_address(peer, forwarded, trusted) == expected


def test_the_hub_forwards_the_address_its_proxy_saw_not_x_real_ip() -> None:
    """JupyterHub serves with xheaders: tornado's remote_ip is X-Real-Ip, which the
    browser chooses and configurable-http-proxy passes on untouched."""
    from types import SimpleNamespace

    from tornado.httputil import HTTPHeaders

    from hopsworks_lab.hub.auth import browser_address

    def request(peer: object, **headers: str) -> object:
        context = SimpleNamespace(address=peer, remote_ip=headers.get("X-Real-Ip", "?"))
        return SimpleNamespace(
            connection=SimpleNamespace(context=context), headers=HTTPHeaders(headers)
        )

    loopback = ["127.0.0.1", "::1"]
    proxied = request(
        ("127.0.0.1", 5000),
        **{"X-Real-Ip": "192.0.2.1", "X-Forwarded-For": "192.0.2.1, 203.0.113.5"},
    )
    assert browser_address(proxied, loopback) == "203.0.113.5"
    assert (
        browser_address(request(("127.0.0.1", 5000), **{"X-Real-Ip": "192.0.2.1"}), loopback)
        == "127.0.0.1"
    )
    assert (
        browser_address(request(("203.0.113.5", 1), **{"X-Forwarded-For": "1.2.3.4"}), loopback)
        == "203.0.113.5"
    )
    assert browser_address(request("/run/hub.sock"), loopback) is None


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "password"),
        ("alice", "Password123!"),
        ("alice", "qwertyuiop"),
        ("alice", "1234567890"),
        ("alice", "aaaaaaaaaaaa"),
        ("alice", "abababababab"),
        ("alice", "ALICE2024!!"),
        ("alice", "alice-pass-1"),
        ("alice", "my-alice-1"),
        ("bob", "hopsworks1!"),
    ],
)
def test_common_and_user_name_passwords_are_refused(
    admin: Client, username: str, password: str
) -> None:
    r = admin.post("api/users", json={"username": username, "password": password})
    assert r.status_code == 422 and r.json()["error"] == "weak_password", r.text
    assert admin.get(f"api/users/{username}").status_code == 404


def test_a_password_change_to_a_weak_password_is_refused(anon: Client, admin: Client) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    for weak in ("alice-pass-1", "sunshine2024", "Iloveyou!!"):
        r = alice.put(
            "api/users/me/password", json={"old_password": "secret-pass-1", "new_password": weak}
        )
        assert r.status_code == 422 and r.json()["error"] == "weak_password", weak
    assert alice.get("api/users/me").status_code == 200  # nothing changed
    add_user(admin, "bob", "correct-horse-battery")  # a strong one passes


def test_generated_passwords_always_pass() -> None:
    for user in ("ab", "admin", "x1"):
        for _ in range(300):
            validation.password(validation.generate_password(user), user)


def test_platform_responses_are_data_not_pages(anon: Client, admin: Client) -> None:
    assert admin.post("api/projects", json={"name": "demo"}).status_code == 201
    r = admin.put("api/projects/demo/files/Resources/page.html", data=b"<script>1</script>")
    assert r.status_code == 201
    for r in (
        anon.get("api/version"),
        anon.get("api/users/me"),  # an error
        anon.get("api/nothing-here"),
        admin.get("api/projects/demo/files/Resources/page.html"),
        admin.get("webhdfs/v1/Projects/demo/Resources/page.html?op=OPEN"),
    ):
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
        assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_failures_below_the_threshold_reset_on_success(anon: Client, admin: Client) -> None:
    add_user(admin, "alice")
    for _ in range(3):
        anon.post("api/auth/login", json={"username": "alice", "password": "nope-nope"})
    anon.login("alice", "secret-pass-1")
    for _ in range(3):
        anon.post("api/auth/login", json={"username": "alice", "password": "nope-nope"})
    anon.login("alice", "secret-pass-1")  # 3 + 3 failures never locked


def test_blocked_user_loses_sessions_and_keys_at_once(anon: Client, admin: Client) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    key = alice.post("api/users/me/apikeys", json={"name": "k", "scopes": ["project"]}).json()
    assert admin.patch("api/users/alice", json={"status": "blocked"}).status_code == 200
    assert alice.get("api/users/me").status_code == 401
    assert anon.as_key(key["key"]).get("api/projects").status_code == 401
    r = anon.post("api/auth/login", json={"username": "alice", "password": "secret-pass-1"})
    assert r.status_code == 403 and r.json()["error"] == "account_blocked"


def test_two_factor_login_end_to_end(anon: Client, admin: Client, platform: Platform) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    enrol = alice.post("api/users/me/totp")
    assert enrol.status_code == 201
    secret = enrol.json()["secret"]
    assert enrol.json()["provisioning_uri"].startswith("otpauth://totp/")
    assert secret in enrol.json()["provisioning_uri"]
    totp = pyotp.TOTP(secret)
    # Not enforced before confirmation.
    anon.login("alice", "secret-pass-1")
    bad = alice.post("api/users/me/totp/confirm", json={"otp": _wrong(totp)})
    assert bad.status_code == 403 and bad.json()["error"] == "invalid_otp"
    ok = alice.post("api/users/me/totp/confirm", json={"otp": totp.now()})
    assert ok.status_code == 200 and ok.json()["totp_enabled"] is True

    creds = {"username": "alice", "password": "secret-pass-1"}
    r = anon.post("api/auth/login", json=creds)
    assert r.status_code == 401 and r.json()["error"] == "otp_required"
    r = anon.post("api/auth/login", json={**creds, "otp": _wrong(totp)})
    assert r.status_code == 401 and r.json()["error"] == "invalid_otp"
    # The next step's code (inside the accepted drift) works once, and only once.
    code = totp.at(time.time() + totp.interval)
    assert anon.post("api/auth/login", json={**creds, "otp": code}).status_code == 200
    r = anon.post("api/auth/login", json={**creds, "otp": code})
    assert r.status_code == 401 and r.json()["error"] == "invalid_otp"
    # Wrong password with a right code is still a wrong password.
    r = anon.post("api/auth/login", json={**creds, "password": "x" * 10, "otp": totp.now()})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"


def test_totp_settings_need_a_session_not_a_key(anon: Client, admin: Client) -> None:
    key = admin.post("api/users/me/apikeys", json={"name": "k", "scopes": ["admin"]}).json()
    r = anon.as_key(key["key"]).post("api/users/me/totp")
    assert r.status_code == 403 and r.json()["error"] == "session_required"


def _wrong(totp: pyotp.TOTP) -> str:
    valid = {totp.at(time.time() + d * totp.interval) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_expired_and_forged_tokens_are_refused(anon: Client, platform: Platform) -> None:
    now = datetime.now(timezone.utc)
    claims = {"sub": "1", "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}
    expired = jwt.encode(claims, platform.secrets.jwt_key(), algorithm="HS256")
    r = Client(anon.base, f"Bearer {expired}").get("api/users/me")
    assert r.status_code == 401 and r.json()["error"] == "token_expired"
    forged = jwt.encode({**claims, "exp": now + timedelta(hours=1)}, "x" * 32, algorithm="HS256")
    r = Client(anon.base, f"Bearer {forged}").get("api/users/me")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    unsigned = jwt.encode({**claims, "exp": now + timedelta(hours=1)}, None, algorithm="none")
    r = Client(anon.base, f"Bearer {unsigned}").get("api/users/me")
    assert r.status_code == 401


def test_api_key_is_shown_once_stored_hashed_and_revocable(
    anon: Client, admin: Client, platform: Platform
) -> None:
    r = admin.post("api/users/me/apikeys", json={"name": "ci", "scopes": ["project", "job"]})
    assert r.status_code == 201
    key = r.json()["key"]
    listed = admin.get("api/users/me/apikeys").json()["items"]
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]
    secret = key.split(".", 1)[1]
    with platform.db.engine.connect() as conn:
        dump = repr(conn.exec_driver_sql("SELECT * FROM api_keys").fetchall())
    assert secret not in dump
    keyed = anon.as_key(key)
    assert keyed.get("api/projects").status_code == 200
    assert (
        admin.post("api/users/me/apikeys", json={"name": "ci", "scopes": ["job"]}).status_code
        == 409
    )
    assert admin.delete("api/users/me/apikeys/ci").status_code == 204
    r = keyed.get("api/projects")
    assert r.status_code == 401 and r.json()["error"] == "invalid_api_key"


def test_api_key_scopes_limit_what_it_can_do(anon: Client, admin: Client) -> None:
    key = admin.post("api/users/me/apikeys", json={"name": "j", "scopes": ["job"]}).json()["key"]
    keyed = anon.as_key(key)
    r = keyed.get("api/projects")
    assert r.status_code == 403 and r.json()["error"] == "missing_scope"
    r = keyed.get("api/users")  # an admin's key without the admin scope is no admin
    assert r.status_code == 403
    r = keyed.post("api/users/me/apikeys", json={"name": "x", "scopes": ["job"]})
    assert r.status_code == 403 and r.json()["error"] == "session_required"


def test_only_admins_hold_the_admin_scope(anon: Client, admin: Client) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    r = alice.post("api/users/me/apikeys", json={"name": "a", "scopes": ["admin"]})
    assert r.status_code == 403
    r = alice.post("api/users/me/apikeys", json={"name": "a", "scopes": ["root"]})
    assert r.status_code == 422


def test_project_bound_key_sees_only_its_project(anon: Client, admin: Client) -> None:
    for name in ("one", "two"):
        assert admin.post("api/projects", json={"name": name}).status_code == 201
    r = admin.post(
        "api/users/me/apikeys", json={"name": "b", "scopes": ["project"], "project": "one"}
    )
    assert r.status_code == 201 and r.json()["project"] == "one"
    keyed = anon.as_key(r.json()["key"])
    assert [p["name"] for p in keyed.get("api/projects").json()["items"]] == ["one"]
    assert keyed.get("api/projects/one").status_code == 200
    r = keyed.get("api/projects/two")
    assert r.status_code == 403 and r.json()["error"] == "wrong_project"
    r = keyed.post("api/projects", json={"name": "three"})
    assert r.status_code == 403


def test_password_change(anon: Client, admin: Client) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    r = alice.put(
        "api/users/me/password", json={"old_password": "wrong-one", "new_password": "new-secret-2"}
    )
    assert r.status_code == 403
    r = alice.put(
        "api/users/me/password", json={"old_password": "secret-pass-1", "new_password": "short"}
    )
    assert r.status_code == 422
    r = alice.put(
        "api/users/me/password",
        json={"old_password": "secret-pass-1", "new_password": "new-secret-2"},
    )
    assert r.status_code == 204
    anon.login("alice", "new-secret-2")
    bad = anon.post("api/auth/login", json={"username": "alice", "password": "secret-pass-1"})
    assert bad.status_code == 401
