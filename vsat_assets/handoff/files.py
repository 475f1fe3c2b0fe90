"""The hand-off file contract with the contractor (domain brief, section 5): layout, bytes, manifest."""

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from vsat_assets.atomic import write_atomically
from vsat_assets.privacy import neutralise_expr

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
        manifest = {
            "file": handoff_name(self.month),
            "month": f"{self.month:%Y-%m}",
            "rows": self.rows,
            "sha256": self.sha256,
            "layout_version": LAYOUT_VERSION,
            "columns": list(HANDOFF_COLUMNS),
        }
        if encrypted_sha256:
            manifest["encrypted_file"] = handoff_name(self.month) + ".age"
            manifest["encrypted_sha256"] = encrypted_sha256
        return manifest


def render_handoff(month: date, cohort: pl.DataFrame) -> HandoffFile:
    """The CSV bytes for a month's cohort: allowed fields only, in order, sorted by survey_id,
    text cells neutralised against spreadsheet formulas. Same cohort, same bytes."""
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


def publish(outbox: Path, handoff: HandoffFile, recipient: str | None) -> list[Path]:
    """Write the hand-off (encrypted if a recipient is set) and its manifest; the manifest goes last."""
    written = []
    encrypted_sha = None
    plain, encrypted_path = outbox / handoff_name(handoff.month), outbox / (handoff_name(handoff.month) + ".age")
    # Only one form of a month's hand-off ever sits in the outbox.
    (plain if recipient else encrypted_path).unlink(missing_ok=True)
    if recipient:
        encrypted = encrypt_for(recipient, handoff.content)
        encrypted_sha = hashlib.sha256(encrypted).hexdigest()
        target = outbox / (handoff_name(handoff.month) + ".age")
        write_atomically(target, encrypted, mode=0o600)
    else:
        target = outbox / handoff_name(handoff.month)
        write_atomically(target, handoff.content, mode=0o600)  # names and phone numbers
    written.append(target)
    manifest = outbox / manifest_name(handoff.month)
    write_atomically(manifest, (json.dumps(handoff.manifest(encrypted_sha), indent=2) + "\n").encode())
    written.append(manifest)
    return written


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
