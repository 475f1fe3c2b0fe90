"""A throw-away OpenSSH server on 127.0.0.1 for the SFTP exchange tests (Debian's openssh-server).

Host key, client key, authorized_keys, config, pid file and the server's folders all live in one
temporary folder; the server listens on a free localhost port only and offers SFTP (internal-sftp).
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {root}/host_key
PidFile {root}/sshd.pid
AuthorizedKeysFile {root}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""


def sshd_path() -> str:
    path = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(path).exists():
        raise FileNotFoundError("sshd not found: run scripts/install_test_deps.sh (Debian's openssh-server)")
    return str(Path(path).resolve())  # sshd refuses to start from a relative path


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path` (no passphrase); returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vsat-test", "-f", str(path)],
                   check=True, capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


def keygen_fingerprint(public_key: Path) -> str:
    """The fingerprint OpenSSH itself prints for a public key file ('SHA256:...')."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class OpenSshServer:
    """`start()`, `stop()` (the server and every session), `drop_connections()` (sessions only)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_public_key = keygen(root / "host_key")
        self.client_key = root / "client_key"
        (root / "authorized_keys").write_text(keygen(self.client_key) + "\n")
        self.outbox, self.returns = root / "outbox", root / "returns"
        self.outbox.mkdir()
        self.returns.mkdir()
        self.user = getpass.getuser()
        self.port = _free_port()
        self.config = root / "sshd_config"
        self.config.write_text(CONFIG.format(port=self.port, root=root))
        self.log = root / "sshd.log"
        self.process: subprocess.Popen | None = None

    @property
    def host_fingerprint(self) -> str:
        return keygen_fingerprint(self.root / "host_key.pub")

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        sshd = sshd_path()
        subprocess.run([sshd, "-t", "-f", str(self.config)], check=True, capture_output=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sshd, "-D", "-e", "-f", str(self.config)],
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port}: {self.log.read_text()[-2000:]}")

    def drop_connections(self) -> None:
        """Kill every session process: open connections drop, the server keeps listening."""
        if self.process is not None:
            for pid in _descendants(self.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        if self.process is None:
            return
        self.drop_connections()
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
