"""Property-based fuzzing of the whole API with schemathesis, driven by openapi.yaml:
no input may cause a 5xx, and every response must match the spec (status, content type,
schema). Runs as an administrator, on SQLite and PostgreSQL (whose strict column types
catch overlong values that SQLite would accept)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
import schemathesis
from conftest import ADMIN_PASSWORD, Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hopsworks_lab.api import make_app
from hopsworks_lab.api.base import JSON_BODY_MAX, storable
from hopsworks_lab.api.spec import load_spec
from hopsworks_lab.platform import Platform, jsonsafe, validation
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.errors import Unprocessable
from hopsworks_lab.testing import ServerThread

schema = schemathesis.openapi.from_dict(load_spec())
EXAMPLES = int(os.environ.get("HWL_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    from conftest import PG_TEMPLATE

    from hopsworks_lab.platform import PlatformConfig

    home = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'metadata.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(
            f"fuzz{os.getpid()}", template=PG_TEMPLATE
        )
    os.environ[ENV_ADMIN_PASSWORD] = ADMIN_PASSWORD
    try:
        platform, _ = Platform.init(
            PlatformConfig(
                home=str(home / "home"),
                db_url=url,
                argon2_time_cost=1,
                argon2_memory_kib=1024,
                isolation="none",  # fuzzing the API; OS isolation has its own tests
                # a valid Livy session request starts a kernel and a Spark driver: at most
                # one (the next get 409, which schemathesis accepts) and killed at close
                livy_max_sessions=1,
            )
        )
    finally:
        del os.environ[ENV_ADMIN_PASSWORD]
    with ServerThread(make_app(platform)) as base:
        admin = Client(base).login("admin", ADMIN_PASSWORD)
        admin.post("api/projects", json={"name": "demo"})
        yield base, {"Authorization": admin.http.headers["Authorization"]}
    platform.close()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_fuzz(case: schemathesis.Case, target: tuple[str, dict[str, str]]) -> None:
    base, headers = target
    excluded = []
    if "Content-Range" in (case.headers or {}):
        # A Content-Range has rules no schema states (start <= end < total), and
        # schemathesis' coverage phase even sends values that break its pattern as
        # "positive" cases (schemathesis#4592): the 400 such ranges get is right.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if not storable(case.body) and not excluded:
        # The spec's text pattern excludes NUL and unpaired surrogates, but hypothesis'
        # regex support still generates them as "valid": the 422 they get is right.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if not excluded and not names_follow_their_patterns(case.body, case.operation.definition.raw):
        # schemathesis does not generate object keys from `propertyNames` (e.g. Spark conf
        # keys in a Livy session request): the 422 a key outside the pattern gets is right.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if not excluded and not passwords_acceptable(case.body):
        # The spec states a new password's length; the list of common passwords and the
        # user-name rule are no schema: the 422 weak_password such a password gets is right.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if isinstance(case.body, (dict, list)) and len(json.dumps(case.body)) > JSON_BODY_MAX:
        # JSON bodies have at most JSON_BODY_MAX bytes, a limit no schema states (a batch of
        # trials with long tracebacks reaches it): the 413 they get, valid or not, is right.
        excluded = [
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ]
    case.call_and_validate(base_url=base, headers=headers, excluded_checks=excluded)


def passwords_acceptable(body: object) -> bool:
    """Whether every new password in ``body`` passes the platform's password rules."""
    if not isinstance(body, dict):
        return True
    user = body.get("username") if isinstance(body.get("username"), str) else "admin"
    for field in ("password", "new_password"):
        value = body.get(field)
        if isinstance(value, str):
            try:
                validation.password(value, user)
            except Unprocessable:
                return False
    return True


def names_follow_their_patterns(body: object, operation: dict) -> bool:
    """Whether the keys of every object in ``body`` whose schema has a ``propertyNames``
    pattern match it (the operation's JSON request body schema, references resolved)."""
    spec = load_spec()

    def check(value: object, schema: object) -> bool:
        while isinstance(schema, dict) and "$ref" in schema:
            target: object = spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target[part]  # type: ignore[index]
            schema = target
        if not isinstance(schema, dict) or not isinstance(value, dict):
            return True
        names = schema.get("propertyNames")
        pattern = names.get("pattern") if isinstance(names, dict) else None
        if pattern and not all(re.search(pattern, k) for k in value):
            return False
        props = schema.get("properties", {})
        return all(check(v, props.get(k)) for k, v in value.items())

    content = operation.get("requestBody", {}).get("content", {})
    return check(body, content.get("application/json", {}).get("schema"))


# -- headers and bodies no schema describes ----------------------------------------------------
# A platform answer to a malformed header or body is a 4xx in the API's error format, never
# a 5xx: numbers with thousands of digits (past int()'s digit limit), nesting deep enough
# to exhaust Python's recursion, numbers that are not finite.

HUGE = "9" * 5000  # int() refuses more than 4300 digits


def _api_error(r: object) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 500, (status, r.text[:300])  # type: ignore[attr-defined]
    if status >= 400:
        body = r.json()  # type: ignore[attr-defined]
        body = body.get("RemoteException", body)  # WebHDFS' error format
        assert set(body) >= {"error", "message"}, body


@pytest.fixture(scope="module")
def demo_file(target: tuple[str, dict[str, str]]) -> Client:
    base, headers = target
    admin = Client(base, headers["Authorization"])
    r = admin.put("api/projects/demo/files/Resources/ten.txt?overwrite=true", data=b"0123456789")
    assert r.status_code in (200, 201), r.text
    return admin


_number = st.one_of(
    st.integers(min_value=0, max_value=2**70).map(str),
    st.sampled_from(
        [HUGE, "0" * 5000 + "5", "1" * 4301, "", "-1", "+1", "1_0", " 1", "\u00b2", "\u00bd"]
    ),
)
_range = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", _number, _number),
    st.builds(lambda a, b, c: f"bytes {a}-{b}/{c}", _number, _number, _number),
    st.builds(lambda c: f"bytes */{c}", _number),
    # Control characters are refused by tornado's HTTP parser (a bare 400) before any
    # handler runs, and requests refuses to send a value with leading white space.
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=["Cc"]),
        max_size=60,
    ).map(str.lstrip),
)


@given(value=_range, header=st.sampled_from(["Range", "Content-Range"]))
@settings(max_examples=EXAMPLES * 3, deadline=None, database=None)
def test_range_headers_never_fail_the_server(demo_file: Client, value: str, header: str) -> None:
    path = "api/projects/demo/files/Resources/ten.txt"
    _api_error(demo_file.get(path, headers={header: value}))
    chunk = path.replace("ten", "chunk") + "?overwrite=true"
    _api_error(demo_file.put(chunk, data=b"ab", headers={header: value}))


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", "files/Resources/ten.txt", {"Range": f"bytes={HUGE}-"}, 416),
        ("GET", "files/Resources/ten.txt", {"Range": f"bytes=2-{HUGE}"}, 206),
        ("GET", "files/Resources/ten.txt", {"Range": f"bytes=-{HUGE}"}, 206),
        ("PUT", "files/Resources/c.txt", {"Content-Range": f"bytes 0-1/{HUGE}"}, 400),
        ("PUT", "files/Resources/c.txt", {"Content-Range": f"bytes {HUGE}-{HUGE}/{HUGE}"}, 400),
        ("PUT", "files/Resources/c.txt", {"Content-Range": f"bytes */{HUGE}"}, 400),
        ("GET", "files/Resources?offset=" + HUGE, {}, 400),
        ("GET", "files/Resources?limit=" + HUGE, {}, 400),
        ("GET", "files/Resources?limit=%D9%A1", {}, 400),  # an Arabic-Indic digit
        ("GET", "audit?limit=" + HUGE, {}, 400),
    ],
)
def test_huge_numbers_in_headers_and_queries_are_refused(
    demo_file: Client, method: str, path: str, headers: dict[str, str], expected: int
) -> None:
    r = demo_file.request(method, f"api/projects/demo/{path}", headers=headers, data=b"ab")
    _api_error(r)
    assert r.status_code == expected, r.text[:300]


def test_webhdfs_huge_offsets_and_lengths_are_refused(demo_file: Client) -> None:
    base = "webhdfs/v1/Projects/demo/Resources/ten.txt?op=OPEN"
    for query in (f"&offset={HUGE}", f"&length={HUGE}", "&offset=1" + "0" * 30):
        r = demo_file.get(base + query)
        _api_error(r)
        assert r.status_code == 400, r.text[:300]
    r = demo_file.get(base + "&offset=2&length=3")
    assert r.status_code == 200 and r.content == b"234"


def _json_operations() -> list[tuple[str, str]]:
    """Every operation of the spec that takes a JSON body, with its path parameters filled."""
    ops = []
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) else {}
            if "application/json" in content:
                filled = re.sub(r"\{[^}]+\}", "x", path).replace("/projects/x", "/projects/demo")
                ops.append((method.upper(), filled.lstrip("/")))
    return ops


DEEP = 100_000  # far past the recursion limit
# Valid for the operations that take free-form JSON (an experiment's space); the 0x22 byte
# of U+0122 in UTF-16 is what hid the brackets from a scan of the bytes.
UTF16_DEEP = (
    '{"description": "\u0122", "space": {"a": '
    + "[" * 900  # under the parser's recursion limit, far past DEPTH_MAX
    + "]" * 900
    + '}, "name": "utf16", "kind": "launch"}'
)


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP + "]" * DEEP,
        '{"a":' * DEEP + "1" + "}" * DEEP,
        '{"name": ' + "[" * 40 + "]" * 40 + "}",  # past the depth limit, far below recursion
        '{"name": "' + "[" * DEEP + '"}',  # brackets inside a string do not nest
        '{"name": ' + "1" * 5000 + "}",
        '{"name": NaN}',
        '{"name": 1e999}',
        '{"name": -Infinity}',
        # json.loads guesses UTF-16/32 from the first bytes; the depth scan read the bytes,
        # where the 0x22 byte of U+0122 opened a "string" hiding the brackets: depth 1,
        # parsed, and storable() then recursed past the limit (500).
        UTF16_DEEP.encode("utf-16-le"),
        '{"name": "x"}'.encode("utf-32"),
    ],
    ids=[
        "deep-array",
        "deep-object",
        "depth-40",
        "brackets-in-a-string",
        "huge-int",
        "nan",
        "overflow",
        "infinity",
        "utf16-deep-array",
        "utf32",
    ],
)
def test_deep_and_odd_json_bodies_get_4xx_everywhere(
    target: tuple[str, dict[str, str]], body: str | bytes, request: pytest.FixtureRequest
) -> None:
    base, headers = target
    client = Client(base, headers["Authorization"])
    for method, path in _json_operations():
        data = body if isinstance(body, bytes) else body.encode()
        r = client.request(method, path, data=data, headers={"Content-Type": "application/json"})
        _api_error(r)
        if "brackets" not in request.node.name:  # that one is valid JSON
            assert 400 <= r.status_code < 500, (method, path, r.status_code)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32-be", "utf-32"])
def test_json_bodies_are_utf8_only(encoding: str) -> None:
    """RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Other encodings are refused
    before the depth scan, which reads the text that is parsed (so it sees every bracket)."""
    with pytest.raises(jsonsafe.JsonError):
        jsonsafe.loads(UTF16_DEEP.encode(encoding))
    with pytest.raises(jsonsafe.JsonError):
        jsonsafe.loads('{"a": 1}'.encode(encoding))
    assert jsonsafe.loads("\ufeff[1]".encode()) == [1]  # a UTF-8 BOM may be ignored (§8.1)
    assert jsonsafe.loads('{"a": "é"}'.encode()) == {"a": "é"}


def test_notebook_parameters_that_nest_deeply_stay_text() -> None:
    from hopsworks_lab.jobs.config import notebook_parameters

    deep = "[" * DEEP
    assert notebook_parameters([f"x={deep}", "y=2", "z=NaN"]) == {"x": deep, "y": 2, "z": "NaN"}


def test_bodies_past_their_range_or_the_quota_get_413_not_500(demo_file: Client) -> None:
    """Found by the range fuzzing: bytes past what a chunk's Content-Range announces, or
    past the quota in a body without Content-Length (chunked), failed while the body was
    read, outside tornado's error handling: a 500 and a closed connection."""
    r = demo_file.put(
        "api/projects/demo/files/Resources/over.txt",
        data=b"ab",
        headers={"Content-Range": "bytes 0-0/5"},
    )
    assert r.status_code == 413, r.text
    assert demo_file.post("api/projects", json={"name": "tiny"}).status_code == 201
    assert demo_file.put("api/projects/tiny/quotas", json={"bytes_limit": 4}).status_code == 200
    for method, path in (
        ("PUT", "api/projects/tiny/files/Resources/big.bin"),
        ("PUT", "webhdfs/v1/Projects/tiny/Resources/big.bin?op=CREATE&data=true"),
    ):
        r = demo_file.request(method, path, data=iter([b"12345", b"67890"]))  # chunked
        _api_error(r)
        assert r.status_code == 413, (path, r.status_code, r.text)
        r = demo_file.get("api/projects/tiny/files/Resources/big.bin?stat=true")
        assert r.status_code == 404, r.text  # nothing was left behind
