"""Notebook jobs: papermill runs the notebook with its parameters in the project's Python
environment and saves the executed notebook (outputs and errors included) next to the
execution's logs; cell output streams to the job's stdout and stderr as it comes.

``command`` builds the argv (pure); run as a script (by path, with the project's
interpreter, which has papermill from the base environment) this file is that command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any


def output_name(app_path: str) -> str:
    """The executed notebook's file name in the execution's log folder."""
    return os.path.basename(app_path)


def command(python: str, notebook: str, output: str, parameters: Mapping[str, Any]) -> list[str]:
    return [
        python,
        os.path.abspath(__file__),
        notebook,
        output,
        json.dumps(dict(parameters)),
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: notebook.py INPUT OUTPUT PARAMETERS_JSON", file=sys.stderr)
        return 2
    # run by path: this folder is not a package root (its config.py is not "config")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, output, parameters = argv[1], argv[2], json.loads(argv[3])
    try:
        papermill.execute_notebook(
            notebook,
            output,
            parameters=parameters,
            # "python3" is the interpreter running papermill: the project's environment
            kernel_name="python3",
            cwd=os.getcwd(),
            progress_bar=False,
            stdout_file=sys.stdout,
            stderr_file=sys.stderr,
        )
    except PapermillExecutionError as e:
        print(
            f"the notebook failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
