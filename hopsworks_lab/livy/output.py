"""A statement's kernel messages as Livy's ``output`` (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

TEXT = "text/plain"
PNG = "image/png"
JSON = "application/json"


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def livy_output(
    messages: Iterable[Mapping[str, Any]], reply: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Livy's output of a statement from its IOPub messages (in order) and its execute
    reply: ``{status: ok, execution_count, data: {text/plain, image/png?,
    application/json?}}`` or ``{status: error, execution_count, ename, evalue,
    traceback}``. The text is what the statement printed to stdout followed by its result,
    as Livy's PySpark REPL returns it (stderr, warnings included, is not part of it: clients
    such as sparkmagic parse the text); images and JSON come from rich results."""
    text: list[str] = []
    data: dict[str, Any] = {}
    error: dict[str, Any] | None = None
    count = (reply or {}).get("execution_count")
    for msg in messages:
        kind = msg["header"]["msg_type"]
        content = msg["content"]
        if kind == "stream":
            if content.get("name") == "stdout":  # stderr goes to the session's log
                text.append(content.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            bundle = content.get("data", {})
            if kind == "execute_result":
                count = content.get("execution_count", count)
            if PNG in bundle:
                data[PNG] = _text(bundle[PNG]).strip()
            elif JSON in bundle:
                data[JSON] = bundle[JSON]
            if TEXT in bundle and PNG not in bundle:
                chunk = _text(bundle[TEXT])
                text.append(chunk if chunk.endswith("\n") else chunk + "\n")
        elif kind == "error":
            error = dict(content)
    status = (reply or {}).get("status", "ok" if error is None else "error")
    if error is None and status != "ok":  # aborted, or an error the kernel did not publish
        error = {
            "ename": (reply or {}).get("ename", "Aborted"),
            "evalue": (reply or {}).get("evalue", "the statement did not run"),
            "traceback": (reply or {}).get("traceback", []),
        }
    if error is not None:
        return {
            "status": "error",
            "execution_count": count,
            "ename": error.get("ename", "Error"),
            "evalue": error.get("evalue", ""),
            "traceback": _traceback(error.get("traceback", [])),
        }
    data[TEXT] = "".join(text).rstrip("\n")
    return {"status": "ok", "execution_count": count, "data": data}


def _traceback(lines: Iterable[str]) -> list[str]:
    """Plain lines, each ending in a newline (sparkmagic joins them as they are)."""
    out = []
    for entry in lines:
        for line in _ANSI.sub("", entry).splitlines():
            out.append(line + "\n")
    return out


def stderr_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """What a statement wrote to stderr (it belongs in the session's log)."""
    return "".join(
        m["content"].get("text", "")
        for m in messages
        if m["header"]["msg_type"] == "stream" and m["content"].get("name") == "stderr"
    )
