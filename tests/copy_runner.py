"""Runs programs as a reader who pastes them into a fresh ``python`` would, many per interpreter.

Started once (per test worker) by tests/test_browser.py: imports torch, the package and matplotlib
once, then for each program read from stdin (one JSON string per line) forks, and the child runs
the program in a fresh ``__main__`` namespace with nothing imported into it and the state of a
new interpreter (the fork happens before any program has run). Replies one JSON line per program:
``{"returncode": int, "output": str}``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402,F401 - imported once here, as slow as torch
import matplotlib.pyplot  # noqa: E402,F401
import torch  # noqa: E402,F401

import selfattention  # noqa: E402,F401


def run(program: str) -> dict:
    with tempfile.TemporaryFile() as output:
        pid = os.fork()
        if pid == 0:  # the child: stdout and stderr into the file, then the program
            sys.stdout.flush()
            os.dup2(output.fileno(), 1)
            os.dup2(output.fileno(), 2)
            code = 0
            try:
                exec(compile(program, "<copied code>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        output.seek(0)
        return {"returncode": os.waitstatus_to_exitcode(status), "output": output.read().decode(errors="replace")}


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
