"""Fetching the contractor's returns from its SFTP server into the local inbox, once per file version."""

import posixpath
import re
import stat
from pathlib import Path

from vsat_assets.atomic import write_atomically
from vsat_assets.defs.handoff.sftp import ContractorSftp, read_remote

CURSOR_PREFIX = "sftp:"


def fetch_returns(sftp: ContractorSftp, inbox: Path, seen: dict[str, str], names: re.Pattern, log) -> list[str]:
    """Download each returns file on the server that is new or changed since `seen` (cursor entries
    `sftp:<name>` -> `<size>-<mtime>`, updated in place) into `inbox`, whole or not at all."""

    def fetch(client) -> list[str]:
        folder = sftp.folder(client, sftp.remote_returns)
        fetched = []
        for entry in sorted(client.listdir_attr(folder), key=lambda e: e.filename):
            if not names.match(entry.filename) or not stat.S_ISREG(entry.st_mode or 0):
                continue
            version = f"{entry.st_size}-{entry.st_mtime}"
            if seen.get(CURSOR_PREFIX + entry.filename) == version:
                continue
            content = read_remote(client, posixpath.join(folder, entry.filename))
            if len(content) != entry.st_size:
                log.warning(f"{entry.filename} changed while it was read: fetched at the next tick")
                continue
            write_atomically(inbox / entry.filename, content, mode=0o600)
            seen[CURSOR_PREFIX + entry.filename] = version
            fetched.append(entry.filename)
        return fetched

    # One attempt per tick: the next tick is the retry.
    return sftp.with_retries(fetch, log, attempts=1)
