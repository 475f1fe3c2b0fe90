"""Data-quality checks on raw reports, run inside the asset on the window it wrote."""

from datetime import date
from typing import TYPE_CHECKING

from dagster import AssetCheckResult, AssetCheckSeverity

from vsat_assets.sql_runner.partition_results import partitioned_check_spec
from vsat_assets.partitions import monthly_partitions
from vsat_assets.defs.raw_reports.schema import stored_columns
from vsat_assets.vocabulary import RECORD_TYPES

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

ASSET = "raw_reports"
COLUMNS_AND_TYPES = "columns_and_types"
UNIQUE_REFERENCE_PER_VICTIM = "unique_reference_per_victim"
DATES_IN_PARTITION = "report_dates_in_partition"
KNOWN_OFFENCE_AND_AREA = "known_offence_record_type_and_area"
KEY_FIELD_NULL_RATES = "key_field_null_rates"

# Share of personal victims allowed without a phone / date of birth before a warning.
MAX_NULL_SHARE = {"victim_phone": 0.25, "victim_date_of_birth": 0.10, "victim_surname": 0.05}

RAW_REPORT_CHECK_SPECS = [
    partitioned_check_spec(COLUMNS_AND_TYPES, ASSET, monthly_partitions, blocking=True,
                           description="raw.reports has exactly the export layout's columns and types"),
    partitioned_check_spec(UNIQUE_REFERENCE_PER_VICTIM, ASSET, monthly_partitions, blocking=True,
                           description="a crime reference appears at most once per victim and force in a month"),
    partitioned_check_spec(DATES_IN_PARTITION, ASSET, monthly_partitions, blocking=True,
                           description="every report date lies inside its partition month"),
    partitioned_check_spec(KNOWN_OFFENCE_AND_AREA, ASSET, monthly_partitions, blocking=True,
                           description="offence codes are in the catalogue, record types and policing areas are known"),
    partitioned_check_spec(KEY_FIELD_NULL_RATES, ASSET, monthly_partitions, blocking=False,
                           description="phone, date of birth and surname are present for most personal victims"),
]


def evaluate(
    conn: "duckdb.DuckDBPyConnection",
    start: date,
    end: date,
    areas: tuple[str, ...],
    written_per_month: dict[str, int],
) -> list[AssetCheckResult]:
    """Check the window just written; `written_per_month` is what the asset inserted per 'YYYY-MM'."""
    in_window = "report_date >= $start AND report_date < $end"
    params = {"start": start, "end": end}

    def scalar(sql: str) -> int:
        return conn.execute(sql, params).fetchone()[0]

    actual = [tuple(row) for row in conn.execute("SELECT column_name, column_type FROM (DESCRIBE raw.reports)").fetchall()]
    expected = stored_columns()
    duplicates = scalar(f"""SELECT count(*) FROM (SELECT force_code, crime_reference, victim_person_id FROM raw.reports
                            WHERE {in_window} GROUP BY ALL HAVING count(*) > 1)""")
    stored_per_month = dict(conn.execute(
        f"""SELECT strftime(report_date, '%Y-%m'), count(*) FROM raw.reports WHERE {in_window} GROUP BY ALL""",
        params,
    ).fetchall())
    misplaced = {m: n for m, n in written_per_month.items() if stored_per_month.get(m, 0) != n}
    unknown = conn.execute(
        f"""SELECT count(*) FILTER (WHERE o.offence_code IS NULL),
                   count(*) FILTER (WHERE r.record_type NOT IN $types),
                   count(*) FILTER (WHERE r.policing_area NOT IN $areas)
            FROM raw.reports r LEFT JOIN raw.offences o USING (offence_code)
            WHERE {in_window}""",
        {**params, "types": list(RECORD_TYPES), "areas": list(areas)},
    ).fetchone()
    null_shares = conn.execute(
        f"""SELECT {", ".join(f"avg(({c} IS NULL)::INT)" for c in MAX_NULL_SHARE)}
            FROM raw.reports WHERE {in_window} AND NOT is_organisation""",
        params,
    ).fetchone()
    too_null = {
        column: round(share, 4)
        for column, share in zip(MAX_NULL_SHARE, null_shares)
        if share is not None and share > MAX_NULL_SHARE[column]
    }
    return [
        AssetCheckResult(check_name=COLUMNS_AND_TYPES, passed=actual == expected,
                         metadata={"columns_differing": str(sorted(set(actual) ^ set(expected))) or "none"}),
        AssetCheckResult(check_name=UNIQUE_REFERENCE_PER_VICTIM, passed=duplicates == 0,
                         metadata={"duplicated_reference_victim_pairs": duplicates}),
        AssetCheckResult(check_name=DATES_IN_PARTITION, passed=not misplaced,
                         metadata={"months_whose_stored_count_differs": misplaced or "none"}),
        AssetCheckResult(check_name=KNOWN_OFFENCE_AND_AREA, passed=not any(unknown),
                         metadata={"unknown_offence_codes": unknown[0], "unknown_record_types": unknown[1],
                                   "unknown_policing_areas": unknown[2]}),
        AssetCheckResult(check_name=KEY_FIELD_NULL_RATES, passed=not too_null,
                         severity=AssetCheckSeverity.WARN,
                         metadata={"null_share_over_limit": too_null or "none",
                                   **{f"max_null_share_{c}": v for c, v in MAX_NULL_SHARE.items()}}),
    ]
