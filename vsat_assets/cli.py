"""What every command-line tool shares: a bad argument or a failure is one line on stderr
and a non-zero exit code, never a traceback.

    parser = cli.parser("python -m vsat_assets.x", description=...)
    ...
    if __name__ == "__main__":
        cli.run(main, "python -m vsat_assets.x")

Exit codes: 2 for a bad argument (as argparse), 1 for a failure, 130 when interrupted.
DuckDB's messages lose the values they quote, which could be personal data.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, NoReturn

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class UsageError(Exception):
    """A bad command line."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def parser(prog: str, **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser whose errors end as one line through `run`."""
    return _OneLineParser(prog=prog, **kwargs)


def one_line(error: BaseException) -> str:
    import duckdb  # the tools all use it already; imported here so this module stays light

    message = str(error)
    if isinstance(error, duckdb.Error):
        message = f"{type(error).__name__}: {_QUOTED.sub(chr(39) + '…' + chr(39), message)}"
    elif isinstance(error, (OSError, ValueError, UsageError, LookupError)) and message:
        pass
    else:
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return " ".join(message.split())


def run(main: Callable[[], int | None], prog: str) -> NoReturn:
    """Call `main()` and exit with its code; any error becomes one line on stderr."""
    try:
        code = main()
    except UsageError as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the point: no traceback for the person at the shell
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)
