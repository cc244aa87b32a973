"""The experiment's progress: an ipywidgets bar with a label in a notebook (a kernel with a
frontend), else a line on stderr every few seconds while trials end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass
class Counts:
    total: int | None
    finished: int = 0
    failed: int = 0
    early_stopped: int = 0
    running: int = 0
    best: float | None = None
    best_trial: str | None = None

    @property
    def done(self) -> int:
        return self.finished + self.failed + self.early_stopped

    def text(self) -> str:
        total = "?" if self.total is None else str(self.total)
        parts = [f"{self.done}/{total} trials done", f"{self.running} running"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.early_stopped:
            parts.append(f"{self.early_stopped} early-stopped")
        if self.best is not None:
            parts.append(f"best {self.best:.6g} ({self.best_trial})")
        return ", ".join(parts)


def in_notebook() -> bool:
    """A kernel whose output a frontend shows (not a terminal IPython, not a script)."""
    ipython_mod = sys.modules.get("IPython")
    if ipython_mod is None:
        return False
    try:
        shell = ipython_mod.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class TextProgress:
    def __init__(self, title: str, stream: TextIO | None = None, every: float = 2.0) -> None:
        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._last: tuple[int, float | None] = (0, None)
        self._printed = float("-inf")

    def update(self, counts: Counts) -> None:
        """A line when trials ended, at most one per ``every`` seconds (a log of hundreds
        of short trials stays readable); ``close`` always prints the last state."""
        key = (counts.done, counts.best)
        now = time.monotonic()
        if key != self._last and now - self._printed >= self.every:
            self._last, self._printed = key, now
            print(f"{self.title}: {counts.text()}", file=self.stream, flush=True)

    def close(self, state: str, counts: Counts) -> None:
        print(f"{self.title}: {state} — {counts.text()}", file=self.stream, flush=True)


class WidgetProgress:
    """``IntProgress`` (value: trials done of max: planned) and an ``HTML`` label."""

    def __init__(self, title: str, total: int | None, display: bool = True) -> None:
        import ipywidgets as w

        self.title = title
        self.bar = w.IntProgress(value=0, min=0, max=max(total or 1, 1), description="Trials")
        self.label = w.HTML(value=f"<b>{_esc(title)}</b>: starting")
        self.box = w.HBox([self.bar, self.label])
        self._t0 = time.monotonic()
        if display:
            from IPython.display import display as show

            show(self.box)

    def update(self, counts: Counts) -> None:
        if counts.total:
            self.bar.max = max(counts.total, 1)
        self.bar.value = min(counts.done, self.bar.max)
        self.label.value = f"<b>{_esc(self.title)}</b>: {_esc(counts.text())}"

    def close(self, state: str, counts: Counts) -> None:
        self.update(counts)
        self.bar.bar_style = {"FINISHED": "success", "FAILED": "danger"}.get(state, "warning")
        took = time.monotonic() - self._t0
        self.label.value = (
            f"<b>{_esc(self.title)}</b>: {state} in {took:.1f} s — {_esc(counts.text())}"
        )


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def make_progress(title: str, total: int | None, widget: bool | None = None) -> Any:
    if widget is None:
        widget = in_notebook()
    if widget:
        try:
            return WidgetProgress(title, total)
        except ImportError:
            pass
    return TextProgress(title)
