"""The hand-off file contract with the contractor (docs/inputs.md, The contractor hand-off): layout, bytes, manifest."""

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets.atomic import write_atomically
from vsat_assets.crash import crash_point
from vsat_assets.privacy import neutralise_expr

if TYPE_CHECKING:  # imported where used: not at code-location load
    import polars as pl

LAYOUT_VERSION = 1
HANDOFF_COLUMNS = (
    "survey_id", "title", "forename", "surname", "phone_number",
    "survey_strand", "report_date", "contact_from", "contact_until",
)


def handoff_name(month: date) -> str:
    return f"handoff_{month:%Y-%m}.csv"


def manifest_name(month: date) -> str:
    return f"handoff_{month:%Y-%m}.manifest.json"


@dataclass(frozen=True)
class HandoffFile:
    month: date
    content: bytes
    rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def manifest(self, encrypted_sha256: str | None = None) -> dict:
        return manifest_for(self.month, self.rows, self.sha256, encrypted_sha256)


def manifest_for(month: date, rows: int, sha256: str, encrypted_sha256: str | None = None) -> dict:
    manifest = {
        "file": handoff_name(month),
        "month": f"{month:%Y-%m}",
        "rows": rows,
        "sha256": sha256,
        "layout_version": LAYOUT_VERSION,
        "columns": list(HANDOFF_COLUMNS),
    }
    if encrypted_sha256:
        manifest["encrypted_file"] = handoff_name(month) + ".age"
        manifest["encrypted_sha256"] = encrypted_sha256
    return manifest


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode()


@dataclass(frozen=True)
class OutboxFiles:
    """What a hand-off puts in the outbox: the data file (plain or age-encrypted) and its manifest."""

    data_name: str
    data: bytes
    manifest: dict

    @property
    def data_sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def render_handoff(month: date, cohort: "pl.DataFrame") -> HandoffFile:
    """The CSV bytes for a month's cohort: allowed fields only, in order, sorted by survey_id,
    text cells neutralised against spreadsheet formulas. Same cohort, same bytes."""
    import polars as pl
    text_columns = [c for c in HANDOFF_COLUMNS if cohort.schema[c] == pl.String]
    frame = (
        cohort.select(HANDOFF_COLUMNS)
        .sort("survey_id")
        .with_columns([neutralise_expr(c).alias(c) for c in text_columns])
    )
    buffer = io.BytesIO()
    frame.write_csv(buffer, date_format="%Y-%m-%d", line_terminator="\n", quote_style="necessary")
    return HandoffFile(month=month, content=buffer.getvalue(), rows=frame.height)


def encrypt_for(recipient: str, content: bytes) -> bytes:
    """age-encrypt for the contractor's public key (`age1...`)."""
    import pyrage

    return pyrage.encrypt(content, [pyrage.x25519.Recipient.from_str(recipient)])


def outbox_files(handoff: HandoffFile, recipient: str | None) -> OutboxFiles:
    """The bytes to write, encrypted for `recipient` if set (age output differs at each call)."""
    if not recipient:
        return OutboxFiles(handoff_name(handoff.month), handoff.content, handoff.manifest())
    encrypted = encrypt_for(recipient, handoff.content)
    return OutboxFiles(handoff_name(handoff.month) + ".age", encrypted,
                       handoff.manifest(hashlib.sha256(encrypted).hexdigest()))


def publish(outbox: Path, files: OutboxFiles) -> list[Path]:
    """Write the data file, then its manifest, each atomically (crash points `handoff.file.*`,
    `handoff.manifest.*`)."""
    month_file = outbox / files.manifest["file"]
    # Only one form of a month's hand-off ever sits in the outbox.
    for form in (month_file, month_file.with_name(month_file.name + ".age")):
        if form.name != files.data_name:
            form.unlink(missing_ok=True)
    target = outbox / files.data_name
    write_atomically(target, files.data, mode=0o600, step="handoff.file")  # names and phone numbers
    crash_point("handoff.file.renamed")
    manifest = outbox / manifest_name(date.fromisoformat(files.manifest["month"] + "-01"))
    write_atomically(manifest, manifest_bytes(files.manifest), step="handoff.manifest")
    return [target, manifest]


def verify_on_disk(outbox: Path, month: date) -> dict:
    """Read the month's hand-off back from the outbox and compare it with its manifest."""
    manifest = json.loads((outbox / manifest_name(month)).read_text())
    encrypted = "encrypted_file" in manifest
    content = (outbox / manifest.get("encrypted_file", manifest["file"])).read_bytes()
    expected = manifest["encrypted_sha256"] if encrypted else manifest["sha256"]
    result = {"sha256_ok": hashlib.sha256(content).hexdigest() == expected, "rows": manifest["rows"]}
    if encrypted:
        result["header_ok"] = manifest["columns"] == list(HANDOFF_COLUMNS)
    else:
        lines = content.decode("utf-8").splitlines()
        result["header_ok"] = lines[0] == ",".join(HANDOFF_COLUMNS)
        result["rows"] = len(lines) - 1
    return result
