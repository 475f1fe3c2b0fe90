"""Two forces' exports may use the same crime references and person ids: force_code is part of
every key that identifies a report, a person or a survey, so they stay two people.

Measured before: keys omitted force_code (crime reference and person id alone), so two forces'
exports with the same ids were refused as duplicates or would have merged people.
"""

from datetime import date

import polars as pl

from vsat_assets.resources import SurveySettings
from conftest import TO_HANDOFF

APRIL = date(2025, 4, 1)


def test_the_same_ids_in_two_forces_are_two_victims_from_export_to_handoff(
    export_resources, export_writer, tmp_path, materialize_vsat, warehouse_rows
):
    durham = export_writer.frame(APRIL, rows=6)
    other = durham.with_columns(
        pl.lit("NBR").alias("force_code"),
        pl.Series("victim_phone", [f"07700 900{800 + i}" for i in range(durham.height)]),
    )
    export_writer.write(APRIL, durham, name="reports_2025-04_DUR.csv")
    export_writer.write(APRIL, other, name="reports_2025-04_NBR.csv")
    resources = {**export_resources, "survey": SurveySettings(sample_rate=1.0, domestic_abuse_sample_rate=1.0)}

    result = materialize_vsat(resources, partition=APRIL.isoformat(), selection=TO_HANDOFF)

    assert result.success
    warehouse = resources["warehouse"]
    cohort = warehouse_rows(warehouse, "SELECT force_code, survey_id, person_key, phone_number "
                                       "FROM intermediate.sampled_cohort")
    assert sorted(f for f, *_ in cohort) == ["DUR"] * 6 + ["NBR"] * 6
    assert len({s for _, s, _, _ in cohort}) == 12 and len({p for _, _, p, _ in cohort}) == 12
    # Each victim keeps their own force's contact details (the join to staging is keyed by force).
    phones = {f: sorted(ph for force, _, _, ph in cohort if force == f) for f in ("DUR", "NBR")}
    assert phones["NBR"] == sorted(f"07700900{800 + i}" for i in range(6))
    assert not set(phones["DUR"]) & set(phones["NBR"])
    handoff = (tmp_path / "outbox" / "handoff_2025-04.csv").read_text()
    assert handoff.count("\n") == 13
