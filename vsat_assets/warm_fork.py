"""Start Python commands as forks of a warm interpreter: the libraries imported once, not per command.

A national run starts two processes per force (86 for the 43 forces). A fresh interpreter pays
about a second for DuckDB, polars, pandas and Dagster, and Dagster's checks 2-3 s more for Great
Expectations, every time. A `WarmInterpreter` is a process that imports them once and then forks
a child per command; the child is the command's own process, as a fresh one would be.

The command's arguments and environment (a force's pseudonym key among them) go to the child
only: the warm process forks on a one-byte signal and the child reads its request from the pipe
itself, so the warm process never holds a force's key or data. It imports no vsat_assets module,
since the code location reads the force's settings when it loads.

    with WarmInterpreter(preload=("duckdb", "dagster")) as warm:
        returncode = warm.run(["scripts/bench.py", "--child", "floor"], env, cwd, stdout_path, stderr_path)
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
from pathlib import Path

_GO, _READY = b"g", "ready"


class WarmInterpreter:
    """One warm process; `run` one command at a time in a fork of it."""

    def __init__(self, preload: tuple[str, ...], env: dict[str, str] | None = None):
        self.preload, self.env = preload, env

    def __enter__(self) -> WarmInterpreter:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "vsat_assets.warm_fork", *self.preload], env=self.env,
            cwd=Path(__file__).resolve().parents[1], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self._process.stdout.readline().strip() != _READY:
            raise RuntimeError(f"the warm interpreter did not start (exit {self._process.wait()})")
        return self

    def __exit__(self, *exc) -> None:
        self._process.stdin.close()  # end of requests: the warm process exits
        self._process.wait(timeout=30)

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path) -> int:
        """Run `python argv...` as a fork, its output in the two files; its exit code."""
        request = json.dumps({"argv": [str(a) for a in argv], "env": env, "cwd": str(cwd),
                              "stdout": str(stdout), "stderr": str(stderr)})
        self._process.stdin.write(_GO.decode() + request + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the warm interpreter died (exit {self._process.wait()})")
        return int(answer)


# ------------------------------------------------------------------ inside the warm process
def _read_request() -> dict:
    """The request line, read by the fork straight from the pipe (the warm process never reads it)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 65536)
        if not chunk:
            raise EOFError("the request ended early")
        line += chunk
    return json.loads(line)


def _child() -> None:
    code = 1
    try:
        request = _read_request()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.dont_write_bytecode = "PYTHONDONTWRITEBYTECODE" in os.environ
        if os.environ.get("PYTHONWARNINGS") == "ignore":
            import warnings

            warnings.simplefilter("ignore")
        sys.argv = request["argv"]
        sys.path[0] = str(Path(sys.argv[0]).resolve().parent)  # as `python script.py` sets it
        import runpy

        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(preload: list[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    print(_READY, flush=True)
    while True:
        select.select([0], [], [])
        if os.read(0, 1) != _GO:  # the pipe closed: no more requests
            return
        pid = os.fork()
        if pid == 0:
            _child()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1:])
