"""The contractor hand-off: the month's cohort as a CSV and manifest in the outbox."""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from vsat_assets import clock, settings
from vsat_assets.defs.handoff.files import (
    HANDOFF_COLUMNS,
    LAYOUT_VERSION,
    HandoffFile,
    outbox_files,
    publish,
    render_handoff,
    verify_on_disk,
)
from vsat_assets.defs.handoff.delivery import send_handoffs
from vsat_assets.defs.handoff.sftp import ContractorSftp
from vsat_assets.defs.handoff.recovery import HandoffNeedsOperator, log_intent, mark_written, recover_outbox
from vsat_assets.defs.handoff.retention import purge
from vsat_assets.crash import crash_point
from vsat_assets.sql_runner.partition_results import add_partition_metadata, check_events, partition_windows, partitioned_check_spec
from vsat_assets.partitions import monthly_partitions, months_in, next_month
from vsat_assets.sql_runner.build import settled_message
from vsat_assets.warehouse import WarehouseResource, ensure_schemas, table_exists, transaction

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import polars as pl


ALLOWED_COLUMNS_ONLY = "allowed_columns_only"
MATCHES_COHORT = "file_matches_cohort"


class HandoffSettings(ConfigurableResource):
    outbox: str = Field(default="", description="Folder the contractor collects from; default <data>/outbox.")
    age_recipient: str = Field(default="", description="Contractor's age public key (age1...): encrypt if set.")
    retention_days: int = Field(
        default=90, description="Days after a contact window closes before names, phones and files are purged."
    )
    mark_sent_on_write: bool = Field(
        default=True,
        description="The outbox is collected as soon as a file lands, so writing counts as sending. Set false "
        "to review first, then mark months sent with `python -m vsat_assets.defs.handoff sent YYYY-MM`. "
        "Not used with an SFTP exchange: a month is sent when its upload is verified.",
    )

    def outbox_dir(self) -> Path:
        return Path(self.outbox) if self.outbox else settings.data_dir() / "outbox"


class HandoffAlreadySent(RuntimeError):
    """A sent month's hand-off would change: the contractor already holds the old one."""


def writing_is_sending(handoff: HandoffSettings, sftp: ContractorSftp) -> bool:
    """Whether a file landing in the outbox counts as sent (no SFTP exchange: it is collected from there)."""
    return handoff.mark_sent_on_write and not sftp.configured


def hand_off_month(
    conn: "duckdb.DuckDBPyConnection", month: date, handoff: HandoffSettings, mark_sent: bool | None = None
) -> tuple[HandoffFile, Path]:
    """Write a sampling month's hand-off, log it and add its people to the contact history.
    `mark_sent` (default: handoff.mark_sent_on_write) logs the month as sent at once."""
    import polars as pl
    cohort = pl.from_arrow(conn.execute(_cohort_query(), [month]).to_arrow_table())
    file = render_handoff(month, cohort)
    logged = conn.execute(
        "SELECT sha256, sent_at, purged_at FROM ops.handoff_log WHERE sampling_month = ?", [month]
    ).fetchall()
    sha256, sent_at, purged_at = logged[0] if logged else (None, None, None)
    if purged_at is not None:
        raise HandoffAlreadySent(
            f"the hand-off for {month:%Y-%m} was purged on {purged_at:%Y-%m-%d} after its retention period; "
            "it is not written again"
        )
    if sent_at is not None and sha256 != file.sha256:
        raise HandoffAlreadySent(
            f"the hand-off for {month:%Y-%m} was sent to the contractor on {sent_at:%Y-%m-%d} and this "
            f"run would change it ({file.rows} rows, sha256 {file.sha256[:12]}… instead of {sha256[:12]}…). "
            "The sent file stands; if it must be withdrawn, agree that with the contractor first."
        )
    mark_sent = handoff.mark_sent_on_write if mark_sent is None else mark_sent
    # One act (handoff/recovery.py): intent logged, file, manifest, mark; a kill anywhere is settled
    # by the next run's recover_outbox.
    files = outbox_files(file, handoff.age_recipient or None)
    with transaction(conn):
        log_intent(conn, month, file.rows, file.sha256, files.data_name, files.data_sha256, LAYOUT_VERSION,
                   """SELECT person_key, survey_id, handoff_date FROM intermediate.sampled_cohort
                      WHERE sampling_month = ? AND contact_until > handoff_date""", [month])
    crash_point("handoff.intent_logged")
    written = publish(handoff.outbox_dir(), files)
    crash_point("handoff.manifest_written")
    with transaction(conn):
        mark_written(conn, month, mark_sent, survey_ids=cohort["survey_id"].to_list())
    crash_point("handoff.marked")
    return file, written[0]


def _cohort_query() -> str:
    columns = ", ".join(HANDOFF_COLUMNS)
    return f"""SELECT {columns} FROM intermediate.sampled_cohort
               WHERE sampling_month = ? AND contact_until > handoff_date ORDER BY survey_id"""


@asset(
    group_name="handoff",
    kinds={"duckdb", "csv"},
    deps=["sampled_cohort"],
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "The month's cohort as the contractor's hand-off CSV and manifest in the outbox, written atomically; "
        "each handed-off person is added to ops.contact_history. A sent month is settled: re-running it "
        "keeps its file and contact history as sent."
    ),
    check_specs=[
        partitioned_check_spec(ALLOWED_COLUMNS_ONLY, "contractor_handoff", monthly_partitions, blocking=True,
                               description="The file has exactly the agreed columns, in the agreed order."),
        partitioned_check_spec(MATCHES_COHORT, "contractor_handoff", monthly_partitions, blocking=True,
                               description="The file in the outbox has the cohort's rows and the manifest's checksum."),
    ],
)
def contractor_handoff(
    context: AssetExecutionContext, warehouse: WarehouseResource, handoff: HandoffSettings,
    contractor_sftp: ContractorSftp,
):
    if settings.pseudonym_key()[1]:
        context.log.warning(
            "survey_ids use the built-in demo pseudonym key (VSAT_PROFILE=demo): fine for the demo, never for "
            "real victims; any other profile refuses to run without VSAT_PSEUDONYM_KEY"
        )
    outbox = handoff.outbox_dir()
    window = context.partition_time_window
    per_month, checks, header_ok, matches = {}, {}, True, True
    mark_sent = writing_is_sending(handoff, contractor_sftp)
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        # First, before anything reads ops.handoff_log: settling a kill may mark a landed file sent.
        recovered = recover_outbox(conn, outbox, mark_sent)
        if any(recovered.values()):
            context.log.warning(f"interrupted hand-offs settled: {recovered}")
        settled = dict(conn.execute(
            "SELECT sampling_month, sent_at FROM ops.sent_months WHERE sampling_month >= ? AND sampling_month < ?",
            [window.start.date(), window.end.date()]).fetchall())
        for month_window in partition_windows(context, monthly_partitions):
            month = month_window.start
            if month in settled:
                # The contractor holds this file: it, and the contact history, stay as sent.
                kept = f"sent {settled[month]:%Y-%m-%d}, kept as sent"
                per_month[month_window.key] = {"settled": kept}
                checks[month_window.key] = [
                    AssetCheckResult(check_name=name, passed=True, metadata={"settled": kept})
                    for name in (ALLOWED_COLUMNS_ONLY, MATCHES_COHORT)
                ]
                context.log.info(f"hand-off {settled_message(month, settled[month])}")
                continue
            file, path = hand_off_month(conn, month, handoff, mark_sent=mark_sent)
            on_disk = verify_on_disk(outbox, month)
            file_matches = on_disk["sha256_ok"] and on_disk["rows"] == file.rows
            header_ok &= on_disk["header_ok"]
            matches &= file_matches
            per_month[month_window.key] = {"dagster/row_count": file.rows, "rows_written": file.rows,
                                           "sha256": file.sha256, "file": path.name}
            checks[month_window.key] = [
                AssetCheckResult(check_name=ALLOWED_COLUMNS_ONLY, passed=on_disk["header_ok"],
                                 metadata={"columns": ", ".join(HANDOFF_COLUMNS)}),
                AssetCheckResult(check_name=MATCHES_COHORT, passed=file_matches),
            ]
            context.log.info(f"hand-off {month:%Y-%m}: {file.rows} victims -> {path}")
    sent_over_sftp = {}
    if contractor_sftp.configured and header_ok and matches:
        months = months_in(window.start.date(), window.end.date())
        sent_over_sftp = send_handoffs(warehouse, contractor_sftp, outbox, months, context.log)
    add_partition_metadata(context, per_month)
    yield MaterializeResult(metadata={
        "outbox": MetadataValue.path(str(outbox)),
        "encrypted": bool(handoff.age_recipient),
        **({"sent_over_sftp": MetadataValue.json(sent_over_sftp)} if contractor_sftp.configured else {}),
    })
    yield from check_events(context, "contractor_handoff", checks)


PERSONAL_DATA_PAST_RETENTION = "no_personal_data_past_retention"


class RetentionRun(Config):
    as_of: str = Field(default="", description="Act as if today were this date (YYYY-MM-DD); default today (VSAT_TODAY when set).")


def retention_run_config(as_of: str) -> dict:
    """Run config giving the purge and its check the same day."""
    config = {"config": {"as_of": as_of}}
    return {"ops": {"retention_purge": config, f"retention_purge_{PERSONAL_DATA_PAST_RETENTION}": config}}


@asset(
    group_name="handoff",
    kinds={"duckdb"},
    deps=["contractor_handoff"],
    description=(
        "Purges names and phone numbers from the sampled cohort, and hand-off files from the outbox, "
        "retention_days after each contact window closes. Runs on its own schedule."
    ),
)
def retention_purge(
    context: AssetExecutionContext, config: RetentionRun, warehouse: WarehouseResource, handoff: HandoffSettings,
    contractor_sftp: ContractorSftp,
) -> MaterializeResult:
    as_of = date.fromisoformat(config.as_of) if config.as_of else clock.today()
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        if not table_exists(conn, "intermediate.sampled_cohort"):
            context.log.info("no cohort yet: nothing to purge")
            return MaterializeResult(metadata={"as_of": str(as_of)})
        try:
            recovered = recover_outbox(conn, handoff.outbox_dir(), writing_is_sending(handoff, contractor_sftp))
        except HandoffNeedsOperator as problem:  # the purge must still run; the hand-off run stops on it
            context.log.warning(str(problem))
            recovered = {"partial_files_deleted": 0}
        with transaction(conn):
            done = purge(conn, handoff.outbox_dir(), as_of, handoff.retention_days)
        done["partial_files_deleted"] += recovered["partial_files_deleted"]
    context.log.info(f"retention as of {as_of}: {done}")
    return MaterializeResult(metadata={"as_of": str(as_of), "retention_days": handoff.retention_days, **done})
