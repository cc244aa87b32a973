"""Runs a job's command and writes how it ended to a file, so that the platform learns the
outcome even when it was restarted while the job ran (it is then no longer the parent).

Usage: ``python -I wrap.py EXIT_FILE COMMAND [ARG...]``. It leads the job's process group
(the runner starts it in a new session): stopping the job signals the whole group. The
exit code is the command's, or 128 + the signal that ended it, written atomically.

Standard library only: the runner starts this file by path with its own interpreter in
isolated mode, as the project-user, without importing the platform."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def write_exit_code(path: str, code: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{code}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: wrap.py EXIT_FILE COMMAND [ARG...]", file=sys.stderr)
        return 2
    exit_file, command = argv[1], argv[2:]
    try:
        child = subprocess.Popen(command)
    except OSError as e:
        print(f"cannot start {command[0]}: {e}", file=sys.stderr, flush=True)
        code = 127
    else:

        def forward(signum: int, _frame: object) -> None:
            # the group gets the signal anyway; this covers a signal sent to us alone
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        returncode = child.wait()
        code = returncode if returncode >= 0 else 128 - returncode
    write_exit_code(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
