"""The OpenAPI document is the contract: every route is in it (and nothing else), it is
what the server serves, and the TypeScript types generated from it are current."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import Client, need
from routes_util import METHODS, implemented

from hopsworks_lab.api.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def documented() -> set[tuple[str, str]]:
    return {
        (m.upper(), path)
        for path, item in load_spec()["paths"].items()
        for m in item
        if m.upper() in METHODS
    }


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert implemented() - documented() == set(), "routes missing from openapi.yaml"
    assert documented() - implemented() == set(), "openapi.yaml documents unknown routes"


def test_every_operation_has_an_id_summary_and_error_shape() -> None:
    ids = []
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            if method.upper() not in METHODS:
                continue
            ids.append(op["operationId"])
            assert op.get("summary"), f"{method} {path} has no summary"
            public = op.get("security") == []
            if not public:
                assert "401" in op["responses"], f"{method} {path} does not document 401"
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(op["responses"]), f"{method} {path}"
    assert len(ids) == len(set(ids)), "duplicate operationId"


def test_served_spec_is_the_committed_one(anon: Client) -> None:
    r = anon.get("api/openapi.json")
    assert r.status_code == 200 and r.json() == load_spec()


def test_typescript_types_are_generated_from_the_current_spec() -> None:
    generator = ROOT / "node_modules" / ".bin" / "openapi-typescript"
    need(generator.exists() and shutil.which("node"), "node_modules not installed (jlpm install)")
    out = subprocess.run(
        [str(generator), "hopsworks_lab/api/openapi.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out == (ROOT / "src" / "schema.ts").read_text(), (
        "src/schema.ts is stale: run `jlpm build:schema`"
    )
