"""JSON from untrusted callers, bounded before it is parsed: Python's parser recurses per
nesting level (a deep document raises RecursionError, which no ``except ValueError``
catches), and every later walk over the value (schema validation, storage checks) recurses
again. Numbers that are not finite (``NaN``, ``Infinity``, ``1e999``) are no JSON (RFC 8259)
and compare false against every bound a schema sets, so they are refused too."""

from __future__ import annotations

import json
import math
import re
from typing import Any

DEPTH_MAX = 32  # nesting levels of arrays and objects; real request bodies use a handful
# A JSON string (escapes included) or one bracket: brackets inside strings do not nest.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonError(ValueError):
    """Not acceptable JSON; the message says why and is safe to show the caller."""


def depth(data: bytes) -> int:
    """How deeply ``data`` nests arrays and objects (a lower bound when it is not JSON)."""
    if data.count(b"[") + data.count(b"{") <= DEPTH_MAX:
        return 0  # cannot nest deeper than the limit: skip the scan (nearly every body)
    level = deepest = 0
    for m in _TOKEN.finditer(data):
        token = m.group()
        if token in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        elif token in (b"]", b"}"):
            level -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"the number {text[:40]} is out of range")
    return value


def loads(data: bytes | str, max_depth: int = DEPTH_MAX) -> Any:
    """``json.loads`` for untrusted input: :class:`JsonError` for anything it refuses
    (not JSON, nested deeper than ``max_depth``, integers over Python's digit limit,
    non-finite numbers), never ``RecursionError``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if depth(raw) > max_depth:
        raise JsonError(f"arrays and objects nest at most {max_depth} levels deep")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except JsonError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise JsonError(str(e)) from e
