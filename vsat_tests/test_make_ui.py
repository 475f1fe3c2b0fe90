"""`make ui` on a port that is already taken stops at once with one line, and starts nothing."""

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def processes_in_session(session_id: int) -> list[str]:
    """Command lines of the live processes of a session (make's own, started with start_new_session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":  # field 6 of stat: the session id
            found.append(cmdline)
    return found


def test_a_second_make_ui_on_a_busy_port_stops_with_one_line_naming_the_port(tmp_path):
    with socket.socket() as first_ui:  # stands for the first `make ui`'s web server
        first_ui.bind(("127.0.0.1", 0))
        first_ui.listen()
        port = first_ui.getsockname()[1]
        env = {**os.environ, "VSAT_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
        env.pop("MAKEFLAGS", None)
        make = subprocess.Popen(["make", "ui", f"PORT={port}"], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = make.communicate(timeout=60)  # it must end by itself, not serve
        finally:
            left = processes_in_session(make.pid)
            if make.poll() is None:
                os.killpg(make.pid, 9)
    assert make.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"port {port} is already in use" in lines[0] and f"PORT={port + 1}" in lines[0]
    assert "Serving" not in stdout + stderr and "Traceback" not in stderr
    assert left == [], f"still running after make ui exited: {left}"
