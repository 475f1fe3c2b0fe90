"""`make ui`'s pre-flight: is the web UI's port taken? Prints one line saying so (and exits 1), or nothing.

    python scripts/port_busy.py PORT

`dagster dev` would print "Serving", fail on the port, and leave its daemon running beside the
first one's. Binds as the web server does (127.0.0.1, address reuse on), so a port in TIME_WAIT
is not taken for busy. Standard library only: it runs before anything else starts.
"""

import errno
import socket
import sys

HOST = "127.0.0.1"  # the web server's default host


def busy_message(port: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            return (f"port {port} is already in use (another `make ui`?): open http://localhost:{port}, "
                    f"or start this one on a free port with `make ui PORT={port + 1}`")
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python scripts/port_busy.py PORT", file=sys.stderr)
        return 2
    message = busy_message(int(argv[0]))
    if message:
        print(message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
