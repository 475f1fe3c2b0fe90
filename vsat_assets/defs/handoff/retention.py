"""Retention: names and phone numbers of the sampled, and the hand-off files, are kept only
`retention_days` after each contact window closes. What remains is pseudonymous."""

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets import clock
from vsat_assets.defs.handoff.files import handoff_name

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

PERSONAL_COLUMNS = ("title", "forename", "surname", "phone_number")
_HOLDS_PERSONAL = " OR ".join(f"{c} IS NOT NULL" for c in PERSONAL_COLUMNS)


def leftover_partials(outbox: Path) -> list[Path]:
    """Temporary files of interrupted writes (`.handoff_YYYY-MM.csv.*.partial`, ...): they may hold
    names and phone numbers, and nothing else ever reads them."""
    return sorted(outbox.glob(".handoff_*.partial")) if outbox.is_dir() else []


def remove_partials(outbox: Path) -> int:
    """Delete leftovers of interrupted writes. Only call it holding the warehouse's writer lock:
    every writer of the outbox holds it, so no write is in progress."""
    found = leftover_partials(outbox)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def purge(conn: "duckdb.DuckDBPyConnection", outbox: Path, as_of: date, retention_days: int) -> dict:
    """Blank personal columns and delete hand-off files past retention; returns what was done.

    The boundary is logged in ops.retention_log, which sampled_cohort reads: a rebuild of the
    cohort leaves the purged rows blank."""
    cutoff = as_of - timedelta(days=retention_days)
    conn.execute("INSERT INTO ops.retention_log (as_of, retention_days, purged_before, ran_at) VALUES (?, ?, ?, ?)",
                 [as_of, retention_days, cutoff, clock.now()])
    partials = remove_partials(outbox)
    blanked = conn.execute(
        f"""UPDATE intermediate.sampled_cohort SET {", ".join(f"{c} = NULL" for c in PERSONAL_COLUMNS)}
            WHERE contact_until < ? AND ({_HOLDS_PERSONAL})""",
        [cutoff],
    ).fetchall()[0][0]
    # Every month past retention, purged before or not: a file restored from a backup goes too.
    expired = conn.execute(
        """SELECT l.sampling_month, l.purged_at IS NULL FROM ops.handoff_log l
           JOIN (SELECT sampling_month, max(contact_until) AS last_day FROM intermediate.sampled_cohort
                 GROUP BY ALL) c USING (sampling_month)
           WHERE c.last_day < ?""",
        [cutoff],
    ).fetchall()
    files, purged_months = 0, 0
    for month, first_time in expired:
        deleted = 0
        for path in (outbox / handoff_name(month), outbox / (handoff_name(month) + ".age")):
            if path.exists():
                path.unlink()
                deleted += 1
        files += deleted
        purged_months += bool(first_time or deleted)
        conn.execute(
            "UPDATE ops.handoff_log SET purged_at = coalesce(purged_at, ?::TIMESTAMP) WHERE sampling_month = ?",
            [clock.now(), month],
        )
    return {"cohort_rows_blanked": blanked, "handoff_months_purged": purged_months, "files_deleted": files,
            "partial_files_deleted": partials}


def overdue(conn: "duckdb.DuckDBPyConnection", outbox: Path, as_of: date, retention_days: int) -> dict:
    """Personal data still held past retention: what the retention check looks for."""
    cutoff = as_of - timedelta(days=retention_days)
    rows = conn.execute(
        f"SELECT count(*) FROM intermediate.sampled_cohort WHERE contact_until < ? AND ({_HOLDS_PERSONAL})",
        [cutoff],
    ).fetchall()[0][0]
    months = conn.execute(
        """SELECT sampling_month FROM intermediate.sampled_cohort GROUP BY ALL HAVING max(contact_until) < ?""",
        [cutoff],
    ).fetchall()
    files = [
        p.name for (month,) in months
        for p in (outbox / handoff_name(month), outbox / (handoff_name(month) + ".age")) if p.exists()
    ]
    files += [p.name for p in leftover_partials(outbox)]
    return {"cohort_rows_with_personal_data": rows, "handoff_files": files}
