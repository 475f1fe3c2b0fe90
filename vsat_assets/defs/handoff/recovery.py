"""The hand-off as one act. Writing a month's hand-off goes:

1. intent: in one transaction, ops.handoff_log gets the new version (status WRITING, its rows and
   checksums) and ops.contact_history its people;
2. the data file is written under a temporary name and renamed into the outbox;
3. the manifest likewise;
4. mark: status WRITTEN (and sent, where writing counts as sending).

A kill between any two steps leaves a WRITING row. `recover_outbox`, run first by every writer of
the outbox (the hand-off and the retention purge, under the writer lock), brings the outbox and the
log back to one state in which they agree:

- the new file landed (its bytes match the intent): it may already have been collected, so the act
  is finished (manifest written if missing, month marked);
- it did not land, and the previous version with its manifest is there: the log returns to it;
- nothing landed and there was no earlier version: the intent is withdrawn.

Temporary files of interrupted writes are deleted in every case.
"""

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets import clock
from vsat_assets.atomic import write_atomically
from vsat_assets.defs.handoff.files import manifest_bytes, manifest_for, manifest_name
from vsat_assets.defs.handoff.retention import remove_partials
from vsat_assets.warehouse import transaction

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb


class HandoffNeedsOperator(RuntimeError):
    """The outbox holds a hand-off that matches neither the log nor its manifest."""


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def log_intent(conn: "duckdb.DuckDBPyConnection", month: date, rows: int, sha256: str, data_name: str,
               data_sha256: str, layout_version: int, survey_ids_sql: str, params: list) -> None:
    """Step 1, in the caller's transaction. `survey_ids_sql` selects (person_key, survey_id, handed_off_on)
    of the version being written; earlier rows of the month stay until the mark (conservative)."""
    conn.execute(
        """INSERT INTO ops.handoff_log (sampling_month, file, rows, sha256, layout_version, written_at,
                                        status, file_sha256)
           VALUES (?, ?, ?, ?, ?, ?, 'WRITING', ?)
           ON CONFLICT (sampling_month) DO UPDATE SET
             file = excluded.file, rows = excluded.rows, sha256 = excluded.sha256,
             layout_version = excluded.layout_version, written_at = excluded.written_at,
             status = 'WRITING', file_sha256 = excluded.file_sha256""",
        [month, data_name, rows, sha256, layout_version, clock.now(), data_sha256],
    )
    conn.execute(
        f"""INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
            SELECT n.person_key, n.survey_id, ?, n.handed_off_on FROM ({survey_ids_sql}) n(person_key, survey_id, handed_off_on)
            WHERE NOT EXISTS (SELECT 1 FROM ops.contact_history h WHERE h.survey_id = n.survey_id)""",
        [month, *params],
    )


def mark_written(conn: "duckdb.DuckDBPyConnection", month: date, mark_sent: bool,
                 survey_ids: list[str] | None = None) -> None:
    """Step 4. With the written version's `survey_ids`, an unsent month's contact history keeps only
    them: the people of an earlier, never-sent version were never contacted."""
    unsent = conn.execute("SELECT sent_at IS NULL FROM ops.handoff_log WHERE sampling_month = ?",
                          [month]).fetchall()[0][0]
    if unsent and survey_ids is not None:
        conn.register("written_survey_ids", _ids_table(survey_ids))
        conn.execute("""DELETE FROM ops.contact_history WHERE sampling_month = ?
                        AND survey_id NOT IN (SELECT survey_id FROM written_survey_ids)""", [month])
        conn.unregister("written_survey_ids")
    conn.execute(
        """UPDATE ops.handoff_log SET status = 'WRITTEN',
             sent_at = coalesce(sent_at, CASE WHEN ? THEN ?::TIMESTAMP END)
           WHERE sampling_month = ?""",
        [mark_sent, clock.now(), month],
    )


def _ids_table(survey_ids: list[str]):
    import pyarrow as pa

    return pa.table({"survey_id": pa.array(survey_ids, type=pa.string())})


def recover_outbox(conn: "duckdb.DuckDBPyConnection", outbox: Path, mark_sent: bool) -> dict:
    """Settle every interrupted hand-off (see the module's docstring); returns the months finished,
    rolled back or withdrawn and the number of temporary files deleted."""
    done: dict = {"partial_files_deleted": remove_partials(outbox), "finished": [], "rolled_back": [], "withdrawn": []}
    interrupted = conn.execute(
        """SELECT sampling_month, file, rows, sha256, file_sha256, sent_at FROM ops.handoff_log
           WHERE status = 'WRITING' ORDER BY sampling_month"""
    ).fetchall()
    for month, file, rows, sha256, file_sha256, sent_at in interrupted:
        label = f"{month:%Y-%m}"
        data, manifest = outbox / file, outbox / manifest_name(month)
        if _sha256(data) == file_sha256:
            encrypted = file.endswith(".age")
            expected = manifest_bytes(manifest_for(month, rows, sha256, file_sha256 if encrypted else None))
            if not manifest.exists() or manifest.read_bytes() != expected:
                write_atomically(manifest, expected, step="handoff.manifest")
            with transaction(conn):
                mark_written(conn, month, mark_sent)
            done["finished"].append(label)
        elif manifest.exists():
            previous = json.loads(manifest.read_text())
            previous_file = previous.get("encrypted_file", previous["file"])
            previous_sha = previous.get("encrypted_sha256", previous["sha256"])
            if _sha256(outbox / previous_file) != previous_sha:
                raise HandoffNeedsOperator(
                    f"the outbox's hand-off for {label} matches neither ops.handoff_log nor its manifest; "
                    "check with the contractor which file they hold before changing anything (docs/inputs.md, The contractor hand-off)"
                )
            conn.execute(
                """UPDATE ops.handoff_log SET status = 'WRITTEN', file = ?, rows = ?, sha256 = ?, file_sha256 = ?
                   WHERE sampling_month = ?""",
                [previous_file, previous["rows"], previous["sha256"], previous_sha, month],
            )
            done["rolled_back"].append(label)
        elif not (outbox / file).exists() and sent_at is None:
            with transaction(conn):
                conn.execute("DELETE FROM ops.contact_history WHERE sampling_month = ?", [month])
                conn.execute("DELETE FROM ops.handoff_log WHERE sampling_month = ?", [month])
            done["withdrawn"].append(label)
        else:
            raise HandoffNeedsOperator(
                f"the hand-off for {label} was interrupted and the outbox does not hold a version the log "
                "knows; check with the contractor which file they hold (docs/inputs.md, The contractor hand-off)"
            )
    return done
