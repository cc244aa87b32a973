"""JSON from untrusted callers, bounded before it is parsed: Python's parser recurses per
nesting level (a deep document raises RecursionError, which no ``except ValueError``
catches), and every later walk over the value (schema validation, storage checks) recurses
again. Numbers that are not finite (``NaN``, ``Infinity``, ``1e999``) are no JSON (RFC 8259)
and compare false against every bound a schema sets, so they are refused too. Bytes must be
UTF-8 (RFC 8259 §8.1): ``json.loads`` would guess UTF-16 or UTF-32 from the first bytes,
which a depth scan of the bytes would not see nest."""

from __future__ import annotations

import json
import math
import re
from typing import Any

DEPTH_MAX = 32  # nesting levels of arrays and objects; real request bodies use a handful
# A JSON string (escapes included) or one bracket: brackets inside strings do not nest.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonError(ValueError):
    """Not acceptable JSON; the message says why and is safe to show the caller."""


def depth(data: str) -> int:
    """How deeply ``data`` nests arrays and objects (a lower bound when it is not JSON)."""
    if data.count("[") + data.count("{") <= DEPTH_MAX:
        return 0  # cannot nest deeper than the limit: skip the scan (nearly every body)
    level = deepest = 0
    for m in _TOKEN.finditer(data):
        token = m.group()
        if token in ("[", "{"):
            level += 1
            deepest = max(deepest, level)
        elif token in ("]", "}"):
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
    non-finite numbers, bytes that are not UTF-8), never ``RecursionError``. The text
    parsed is the text scanned."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM may be ignored (§8.1)
        except UnicodeDecodeError as e:
            raise JsonError(f"not UTF-8 ({e.reason} at byte {e.start})") from e
    if depth(text) > max_depth:
        raise JsonError(f"arrays and objects nest at most {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except JsonError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise JsonError(str(e)) from e
