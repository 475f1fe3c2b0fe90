"""Sending hand-offs to the contractor's SFTP server. A file goes up under a hidden temporary name, is
read back and compared with its manifest, then renamed; only then is its month logged as sent."""

import hashlib
import io
import json
import posixpath
import secrets
from collections.abc import Callable
from contextlib import suppress
from datetime import date
from pathlib import Path

from vsat_assets import clock, settings
from vsat_assets.crash import crash_point
from vsat_assets.defs.handoff.files import handoff_name, manifest_name
from vsat_assets.defs.handoff.sftp import ContractorSftp, ExchangeRefused, TransferNotVerified, fingerprint, read_remote
from vsat_assets.warehouse import ensure_schemas, transaction


class PlainHandoffRefused(ExchangeRefused):
    """The production profile sends only age-encrypted hand-offs."""


def send_handoffs(warehouse, sftp: ContractorSftp, outbox: Path, months: list[date], log) -> dict[str, dict]:
    """Upload each month not yet sent, verify it and log it as sent; months already sent are left alone."""
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        sent = dict(conn.execute(
            "SELECT sampling_month, sent_at FROM ops.handoff_log WHERE sent_at IS NOT NULL").fetchall())
    delivered = {}
    for month in months:
        label = f"{month:%Y-%m}"
        if month in sent:
            log.info(f"hand-off {label} was sent on {sent[month]:%Y-%m-%d %H:%M}: nothing uploaded")
            delivered[label] = {"uploaded": False, "sent_at": str(sent[month])}
            continue
        files, plain_sha256 = files_to_send(outbox, month)

        def settle(month=month) -> None:
            # Committed before the contractor can see the file: a run killed after the rename, before
            # sent_at, leaves the month settled, so no later run can replace what may have been collected.
            with warehouse.get_connection() as conn, transaction(conn):
                conn.execute("""UPDATE ops.handoff_log SET upload_started_at = coalesce(upload_started_at, ?)
                                WHERE sampling_month = ?""", [clock.now(), month])

        host_key = sftp.with_retries(lambda client: upload(client, sftp, month, files, before_visible=settle), log)
        crash_point("handoff_uploaded")
        sent_at = clock.now()
        with warehouse.get_connection() as conn, transaction(conn):
            conn.execute(
                """UPDATE ops.handoff_log SET sent_at = ?, sent_host_key = ?
                   WHERE sampling_month = ? AND sha256 = ? AND sent_at IS NULL""",
                [sent_at, host_key, month, plain_sha256],
            )
        log.info(f"hand-off {label} uploaded to {sftp.describe()}, read back and verified (host key {host_key})")
        delivered[label] = {"uploaded": True, "sent_at": str(sent_at), "host_key": host_key,
                            "files": [name for name, _ in files]}
    return delivered


def files_to_send(outbox: Path, month: date) -> tuple[list[tuple[str, bytes]], str]:
    """([(name, bytes)] with the manifest last, the plain file's SHA-256), after checking the outbox's
    file against its manifest."""
    manifest_bytes = (outbox / manifest_name(month)).read_bytes()
    manifest = json.loads(manifest_bytes)
    encrypted = "encrypted_file" in manifest
    if settings.profile() == "production" and not encrypted:
        raise PlainHandoffRefused(
            f"hand-off {month:%Y-%m}: the production profile sends only hand-offs encrypted for the contractor's "
            "age key (set the handoff resource's age_recipient, VSAT_HANDOFF_AGE_RECIPIENT); nothing was sent"
        )
    name = manifest["encrypted_file"] if encrypted else manifest["file"]
    content = (outbox / name).read_bytes()
    if hashlib.sha256(content).hexdigest() != manifest["encrypted_sha256" if encrypted else "sha256"]:
        raise ExchangeRefused(f"{name} in the outbox does not match its manifest; nothing was sent")
    return [(name, content), (manifest_name(month), manifest_bytes)], manifest["sha256"]


def upload(client, sftp: ContractorSftp, month: date, files: list[tuple[str, bytes]],
           before_visible: Callable[[], None] = lambda: None) -> str:
    """Put each file under a temporary name, read it back, and only if it is identical rename it to its
    real name (the manifest last, so a listed manifest means a complete month), calling
    `before_visible` before the first rename; returns the server's host key fingerprint."""
    folder = sftp.folder(client, sftp.remote_outbox)
    _remove_leftovers(client, folder, month, keep={name for name, _ in files})
    for name, content in files:
        temporary = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.partial")
        try:
            client.putfo(io.BytesIO(content), temporary, file_size=len(content), confirm=True)
            back = read_remote(client, temporary)
            if len(back) != len(content) or hashlib.sha256(back).digest() != hashlib.sha256(content).digest():
                raise TransferNotVerified(f"{name} read back from {sftp.describe()} has {len(back)} bytes and a "
                                          f"different SHA-256 from the {len(content)} bytes sent")
            before_visible()
            client.posix_rename(temporary, posixpath.join(folder, name))
        except BaseException:
            with suppress(Exception):
                client.remove(temporary)
            raise
        if client.stat(posixpath.join(folder, name)).st_size != len(content):
            raise TransferNotVerified(f"{name} on {sftp.describe()} is not the file just verified")
    return fingerprint(client.get_channel().get_transport().get_remote_server_key().asbytes())


def _remove_leftovers(client, folder: str, month: date, keep: set[str]) -> None:
    """Temporary files of interrupted uploads, and the other form (plain/encrypted) of the month's file."""
    plain = handoff_name(month)
    for name in client.listdir(folder):
        interrupted = name.startswith(f".{plain[:-4]}") and name.endswith(".partial")
        other_form = name in (plain, plain + ".age") and name not in keep
        if interrupted or other_form:
            client.remove(posixpath.join(folder, name))
