"""The simulation harness's view of the victims: their profile read from the records.

A real contractor knows nothing about a victim beyond the hand-off. The stand-in needs
each victim's area, age band and ethnic group to play the planted truth, so the harness
reads them from the records system's export as landed (`raw.reports`), never from the
pipeline's own tables or the hand-off. The hand-off carries no crime reference, so the
harness recomputes each report's survey_id with the same keyed pseudonym the pipeline
uses (it runs with the force's key, as only a test harness may).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from vsat_assets.contractor_sim.simulate import Profile
from vsat_assets.contractor_sim.truth import AGE_BANDS, UNKNOWN
from vsat_assets.privacy import drop_pseudonym_function, register_pseudonym_function

_AGE_BAND_SQL = f"""case
    when victim_age is null then '{UNKNOWN}'
    when victim_age <= 29 then '{AGE_BANDS[0]}' when victim_age <= 44 then '{AGE_BANDS[1]}'
    when victim_age <= 59 then '{AGE_BANDS[2]}' else '{AGE_BANDS[3]}' end"""
_ETHNIC_SQL = """case when victim_ethnicity = 'WHITE' then 'WHITE'
    when victim_ethnicity in ('MIXED', 'ASIAN', 'BLACK', 'OTHER') then 'ETHNIC_MINORITY' else 'NOT_STATED' end"""


def handoff_survey_ids(handoffs: Iterable[Path]) -> list[str]:
    """The survey_ids of hand-off files (their first column), for profiles of those victims only."""
    import polars as pl

    ids: list[str] = []
    for path in handoffs:
        ids += pl.read_csv(path, columns=["survey_id"], infer_schema=False)["survey_id"].to_list()
    return ids


def profiles_from_reports(warehouse: Path | duckdb.DuckDBPyConnection, key: bytes,
                          survey_ids: Iterable[str] | None = None) -> dict[str, Profile]:
    """survey_id -> Profile for every victim in raw.reports of the warehouse (a file, opened
    read-only, or an open connection); with `survey_ids`, for those victims only (a hand-off is
    a tenth of the reports or less, and a profile each costs a Python object)."""
    if not isinstance(warehouse, duckdb.DuckDBPyConnection):
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return profiles_from_reports(conn, key, survey_ids)
    udf = register_pseudonym_function(warehouse, key, "harness_pseudonym")
    wanted = "true"
    if survey_ids is not None:
        import pyarrow as pa

        ids = pa.table({"survey_id": pa.array(list(survey_ids), pa.string())})
        warehouse.register("_harness_wanted", ids)
        wanted = "survey_id in (select survey_id from _harness_wanted)"
    try:
        rows = warehouse.execute(f"""
            select survey_id, policing_area, age_band, ethnic_group from (
                select harness_pseudonym(force_code || '/' || victim_person_id, crime_reference) as survey_id,
                       policing_area, {_AGE_BAND_SQL} as age_band, {_ETHNIC_SQL} as ethnic_group
                from (select *, date_sub('year', victim_date_of_birth, report_date) as victim_age from raw.reports)
                where victim_person_id is not null and crime_reference is not null)
            where {wanted}""").fetchall()
    finally:
        drop_pseudonym_function(warehouse, udf)
        if survey_ids is not None:
            warehouse.unregister("_harness_wanted")
    return {sid: Profile(area or "", band, group) for sid, area, band, group in rows}
