"""The OpenAPI document (``openapi.yaml``, committed) is the contract: request bodies are
validated against its schemas, and tests compare its paths with the routes."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
_URI = "urn:hopsworks-lab:openapi"


@functools.cache
def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open() as f:
        return yaml.safe_load(f)


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_URI, resource)


@functools.cache
def validator(schema: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<schema>`` (request bodies only: they avoid
    OpenAPI 3.0's ``nullable``, which is not JSON Schema)."""
    if schema not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema!r} in the OpenAPI spec")
    return Draft202012Validator(
        {"$ref": f"{_URI}#/components/schemas/{schema}"}, registry=_registry()
    )
