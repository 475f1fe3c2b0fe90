"""The contractor's SFTP server: a connection that trusts only the pinned host key, with bounded retries.

paramiko is imported inside functions: the code location loads without it.
"""

import base64
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from dagster import ConfigurableResource
from pydantic import Field

T = TypeVar("T")

KEY_PASSPHRASE_ENV = "VSAT_SFTP_KEY_PASSPHRASE"
# Resource field -> environment variable (read by `from_env`, which the code location uses).
ENVIRONMENT = {
    "host": "VSAT_SFTP_HOST",
    "port": "VSAT_SFTP_PORT",
    "user": "VSAT_SFTP_USER",
    "private_key_path": "VSAT_SFTP_KEY_PATH",
    "host_key": "VSAT_SFTP_HOST_KEY",
    "remote_outbox": "VSAT_SFTP_OUTBOX",
    "remote_returns": "VSAT_SFTP_RETURNS",
}
# A host key line names its type; RSA keys are offered under these signature algorithms.
_ALGORITHMS_FOR_TYPE = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class ExchangeRefused(RuntimeError):
    """A fault that retrying cannot mend: the run fails at once."""


class HostKeyRefused(ExchangeRefused):
    """The server's host key is not the pinned one (or none is pinned): nothing is sent."""


class SftpLoginRefused(ExchangeRefused):
    """The server (or the local key file) refused the login."""


class RemoteFolderMissing(ExchangeRefused):
    """A configured folder does not exist on the server."""


class SftpUnavailable(RuntimeError):
    """The server could not be reached, or kept dropping the connection, through every attempt."""


class TransferNotVerified(RuntimeError):
    """A file read back from the server differs from what was sent."""


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob, as `ssh-keygen -l` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class PinnedHostKey:
    fingerprint: str
    key_type: str | None  # None when only a fingerprint was pinned

    @classmethod
    def parse(cls, text: str) -> "PinnedHostKey":
        """From `SHA256:...`, `ssh-ed25519 AAAA...` or a known_hosts line (`host ssh-ed25519 AAAA...`)."""
        tokens = text.split()
        for token in tokens:
            if token.startswith("SHA256:"):
                return cls(token, None)
        for kind, blob in zip(tokens, tokens[1:]):
            if kind.startswith(("ssh-", "ecdsa-", "sk-")):
                try:
                    return cls(fingerprint(base64.b64decode(blob, validate=True)), kind)
                except ValueError:
                    break
        raise HostKeyRefused(
            "no usable pinned host key for the contractor's SFTP server: set VSAT_SFTP_HOST_KEY to the "
            "server's public host key ('ssh-ed25519 AAAA...') or its fingerprint ('SHA256:...'); nothing was sent"
        )


class ContractorSftp(ConfigurableResource):
    """The contractor's SFTP server. Unconfigured (no host), the local outbox and inbox are the exchange."""

    host: str = Field(default="", description="SFTP server name or address; empty: no SFTP exchange.")
    port: int = Field(default=22)
    user: str = Field(default="", description="Login name on the server.")
    private_key_path: str = Field(default="", description=f"Private key file; its passphrase, if any, "
                                  f"comes from ${KEY_PASSPHRASE_ENV} at connection time.")
    host_key: str = Field(default="", description="The server's pinned host key: 'ssh-ed25519 AAAA...', "
                          "a known_hosts line, or 'SHA256:...'. Any other key is refused.")
    remote_outbox: str = Field(default="outbox", description="Server folder the contractor collects hand-offs from.")
    remote_returns: str = Field(default="returns", description="Server folder the contractor writes returns to.")
    attempts: int = Field(default=4, description="Connection attempts per transfer before the run fails.")
    backoff_seconds: float = Field(default=5.0, description="Wait after the first failed attempt; doubles each time.")
    timeout_seconds: float = Field(default=30.0, description="Network timeout of each connection.")

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "ContractorSftp":
        environ = os.environ if environ is None else environ
        fields = {field: environ[name] for field, name in ENVIRONMENT.items() if environ.get(name)}
        return cls(**fields)

    def describe(self) -> str:
        """Where the exchange goes, without the login name or key."""
        return f"sftp://{self.host}:{self.port}"

    @contextmanager
    def session(self) -> Iterator["paramiko.SFTPClient"]:  # noqa: F821
        """One SFTP session, opened only after the server proved it holds the pinned host key."""
        import socket

        import paramiko

        pin = PinnedHostKey.parse(self.host_key)
        key = self._private_key()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_seconds)
        except OSError as error:
            raise ConnectionError(f"cannot connect to {self.describe()}: {error.strerror or error}") from None
        transport = paramiko.Transport(sock)
        try:
            if pin.key_type:
                options = transport.get_security_options()
                wanted = _ALGORITHMS_FOR_TYPE.get(pin.key_type, (pin.key_type,))
                options.key_types = [kind for kind in options.key_types if kind in wanted] or options.key_types
            transport.start_client(timeout=self.timeout_seconds)
            presented = transport.get_remote_server_key()
            seen = fingerprint(presented.asbytes())
            if seen != pin.fingerprint:
                raise HostKeyRefused(
                    f"{self.describe()} presented host key {presented.get_name()} {seen}, not the pinned "
                    f"{pin.fingerprint}: connection refused, nothing was sent. If the contractor says it changed "
                    "its key, confirm the new fingerprint with them by another channel, then update VSAT_SFTP_HOST_KEY"
                )
            try:
                transport.auth_publickey(self.user, key)
            except paramiko.AuthenticationException:
                raise SftpLoginRefused(
                    f"{self.describe()} refused the login with the configured key (VSAT_SFTP_USER, VSAT_SFTP_KEY_PATH)"
                ) from None
            client = paramiko.SFTPClient.from_transport(transport)
            client.get_channel().settimeout(self.timeout_seconds)
            yield client
        finally:
            transport.close()

    def _private_key(self):
        import paramiko

        try:
            return paramiko.PKey.from_path(self.private_key_path, password=os.environ.get(KEY_PASSPHRASE_ENV))
        except FileNotFoundError:
            raise SftpLoginRefused(f"no private key file at VSAT_SFTP_KEY_PATH ({self.private_key_path!r})") from None
        except paramiko.PasswordRequiredException:
            raise SftpLoginRefused(f"the private key is encrypted: set {KEY_PASSPHRASE_ENV}") from None
        except (paramiko.SSHException, ValueError) as error:
            raise SftpLoginRefused(f"the private key file cannot be used: {type(error).__name__}") from None

    def with_retries(self, action: Callable[..., T], log, attempts: int | None = None) -> T:
        """Run `action` in a session; a dropped or refused connection is retried with doubling waits.
        A refused host key, login or missing folder fails at once."""
        import paramiko

        transient = (OSError, EOFError, paramiko.SSHException, TransferNotVerified)
        attempts = attempts or self.attempts
        last = None
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as client:
                    return action(client)
            except ExchangeRefused:
                raise
            except transient as error:
                last = f"{type(error).__name__}: {error}"
                if attempt < attempts:
                    wait = self.backoff_seconds * 2 ** (attempt - 1)
                    log.warning(f"{self.describe()}: attempt {attempt} of {attempts} failed ({last}); "
                                f"retrying in {wait:g} s")
                    time.sleep(wait)
        raise SftpUnavailable(f"{self.describe()}: gave up after {attempts} attempt(s); last error: {last}")

    def folder(self, client, path: str) -> str:
        """`path` after checking it is a folder on the server."""
        import stat

        try:
            if stat.S_ISDIR(client.stat(path).st_mode):
                return path
        except FileNotFoundError:
            pass
        raise RemoteFolderMissing(f"{self.describe()} has no folder {path!r}")


def read_remote(client, path: str) -> bytes:
    with client.open(path, "rb") as handle:
        handle.prefetch()
        return handle.read()
