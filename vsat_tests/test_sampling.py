"""Sampling: the stratified sample, its sizes and weights, no recontact, opt-outs, range runs, blocking checks.

Most tests build the real SQL models directly (`build_model`) on a temporary DuckDB file,
from small export CSVs read by the real export reader. The range-run and blocking-check
tests go through `dagster.materialize`. Everyone here is plainly fake ('Testy Example',
phones 07700 900000-900999).
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from vsat_assets.partitions import months_in, next_month
from vsat_assets.defs.raw_reports.exports import read_month_exports
from vsat_assets.defs.raw_reports.generator import load_offence_catalogue
from vsat_assets.defs.raw_reports.schema import REPORT_COLUMNS, report_table_ddl
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.sampling.opt_outs import REGISTER, person_key, record_contractor_opt_outs, record_direct_request
from vsat_assets.sql_project import PROJECT_DIR, prepare_connection
from vsat_assets.defs.sampling.checks import OFF_TARGET_COLUMNS, STRATUM_RATES, strata_off_target
from vsat_assets.sql_runner.build import build_model
from vsat_assets.sql_runner.models import load_model

KEY = b"vsat-tests-pseudonym-key-not-a-secret"
# Only the models these tests build (and what they ref), loaded one by one: a model being
# written elsewhere in the project does not stop these tests.
MODEL_FILES = {
    "stg_reports": "staging", "victim_eligibility": "intermediate", "eligible_victims": "intermediate",
    "sampling_frame": "intermediate", "sampled_cohort": "intermediate", "exclusion_audit": "marts",
}
MODELS = {name: load_model(PROJECT_DIR / stage / f"{name}.sql") for name, stage in MODEL_FILES.items()}
SAMPLING_MODELS = ("stg_reports", "victim_eligibility", "eligible_victims", "sampling_frame", "sampled_cohort")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# offence -> (record_type, offence_code, description, strand when not domestic abuse)
OFFENCES = {
    "BURGLARY": ("CRIME", "BURG_RES", "Residential burglary"),
    "VEHICLE": ("CRIME", "VEH_THEFT_FROM", "Theft from a motor vehicle"),
    "VIOLENCE": ("CRIME", "VIOL_INJURY", "Violence with injury"),
    "HATE": ("CRIME", "HATE_RACE_RELIG", "Racially or religiously aggravated offence"),
    "ASB": ("ASB", "ASB_PERSONAL", "Personal anti-social behaviour"),
}
AREAS = ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")
APRIL = date(2025, 4, 1)
DEC_2024 = date(2024, 12, 1)


# ----------------------------------------------------------------------------- helpers
def victim(n: int, month: date, *, person: str | None = None, offence: str = "BURGLARY",
           area: str = "NORTH_DURHAM", domestic_abuse: bool = False, day: int | None = None,
           phone: str | None = None) -> dict[str, str]:
    """One export row, as text: an eligible adult unless told otherwise."""
    record_type, code, description = OFFENCES[offence]
    return {
        "force_code": "DUR",
        "crime_reference": f"TST/{'C' if record_type == 'CRIME' else 'A'}/{month:%Y-%m}/{n:05d}",
        "report_date": (month + timedelta(days=(day - 1) if day else n % 27)).isoformat(),
        "record_type": record_type,
        "offence_code": code,
        "offence_description": description,
        "policing_area": area,
        "victim_person_id": person or f"TST-P{month:%y%m}{n:05d}",
        "victim_title": "Mx",
        "victim_forename": "Testy",
        "victim_surname": "Example",
        "victim_date_of_birth": "1975-02-03",
        "victim_phone": phone or f"07700 9{n % 100000:05d}",
        "victim_ethnicity": "NOT_STATED",
        "is_organisation": "false",
        "police_on_duty": "false",
        "is_deceased": "false",
        "is_sensitive": "false",
        "is_domestic_abuse": "true" if domestic_abuse else "false",
        "safe_to_contact": "true" if domestic_abuse else "",
    }


def stratum_rows(month: date, strata: dict[tuple[str, str, bool], int], first: int = 1) -> list[dict[str, str]]:
    """`count` victims (distinct people) for each (offence, area, domestic_abuse) stratum."""
    rows, n = [], first
    for (offence, area, da), count in strata.items():
        for _ in range(count):
            rows.append(victim(n, month, offence=offence, area=area, domestic_abuse=da))
            n += 1
    return rows


def write_export(drop_dir: Path, month: date, rows: list[dict[str, str]]) -> None:
    drop_dir.mkdir(parents=True, exist_ok=True)
    with (drop_dir / f"reports_{month:%Y-%m}.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(REPORT_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


class Warehouse:
    """A temporary DuckDB file with the models' inputs, built with `build_model` (no Dagster)."""

    def __init__(self, path: Path, drop_dir: Path):
        self.drop_dir = drop_dir
        self.conn = duckdb.connect(str(path))
        prepare_connection(self.conn, KEY)
        self.conn.execute(report_table_ddl("raw.reports"))
        catalogue = load_offence_catalogue()
        self.conn.execute("CREATE OR REPLACE TABLE raw.offences AS SELECT * FROM catalogue")

    def load(self, month: date, rows: list[dict[str, str]]) -> None:
        write_export(self.drop_dir, month, rows)
        frame = read_month_exports(self.drop_dir, month).to_arrow()
        self.conn.execute("DELETE FROM raw.reports WHERE date_trunc('month', report_date) = ?", [month])
        self.conn.execute("INSERT INTO raw.reports BY NAME SELECT * FROM frame")

    def build(self, first: date, last: date | None = None, survey: SurveySettings | None = None,
              models: tuple[str, ...] = SAMPLING_MODELS) -> None:
        """Build the months first..last (inclusive) as one window, as a partition-range run does."""
        window = (first, next_month(last or first))
        variables = (survey or SurveySettings()).model_vars()
        for name in models:
            build_model(self.conn, MODELS[name], MODELS, variables, window)

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.conn.execute(sql, params or []).fetchall()

    def sampled(self, month: date) -> set[str]:
        return {sid for (sid,) in self.rows(
            "SELECT survey_id FROM intermediate.sampling_frame WHERE report_month = ? AND selection = 'SAMPLED'",
            [month])}

    def selection_of(self, crime_reference: str) -> str:
        found = self.rows("SELECT selection FROM intermediate.sampling_frame WHERE crime_reference = ?",
                          [crime_reference])
        assert len(found) == 1, (crime_reference, found)
        return found[0][0]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def warehouse(tmp_path):
    wh = Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "drop")
    yield wh
    wh.close()


def expected_sample_size(rate: float, eligible: int) -> int:
    """round(rate x eligible), halves rounded up (as SQL round does), at least one."""
    return max(1, math.floor(rate * eligible + 0.5))


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


# ------------------------------------------------------------------------- determinism
APRIL_STRATA = {
    ("BURGLARY", "NORTH_DURHAM", False): 60,
    ("ASB", "DARLINGTON", False): 45,
    ("VIOLENCE", "EAST_DURHAM", True): 30,
}


def test_rerunning_a_month_selects_the_same_victims(tmp_path, warehouse):
    warehouse.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
    warehouse.build(APRIL)
    first = warehouse.sampled(APRIL)
    frame_before = warehouse.rows("SELECT * FROM intermediate.sampling_frame ORDER BY survey_id")
    rates = SurveySettings().sample_rates()
    assert len(first) == sum(expected_sample_size(rates["DOMESTIC_ABUSE" if da else strand], n)
                             for (strand, _, da), n in APRIL_STRATA.items())

    warehouse.build(APRIL)  # re-run on the same warehouse
    assert warehouse.sampled(APRIL) == first
    assert warehouse.rows("SELECT * FROM intermediate.sampling_frame ORDER BY survey_id") == frame_before

    other = Warehouse(tmp_path / "fresh.duckdb", tmp_path / "drop2")  # and on a fresh one
    try:
        other.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
        other.build(APRIL)
        assert other.sampled(APRIL) == first
    finally:
        other.close()


def test_another_seed_selects_other_victims_in_the_same_numbers(warehouse):
    warehouse.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
    warehouse.build(APRIL)
    default_seed = warehouse.sampled(APRIL)
    sizes = warehouse.rows("""SELECT survey_strand, policing_area, count(*) FROM intermediate.sampling_frame
                              WHERE selection = 'SAMPLED' GROUP BY ALL ORDER BY ALL""")

    warehouse.build(APRIL, survey=SurveySettings(sample_seed=7))
    other_seed = warehouse.sampled(APRIL)
    assert other_seed != default_seed
    assert len(other_seed - default_seed) >= 5  # not a near copy
    assert warehouse.rows("""SELECT survey_strand, policing_area, count(*) FROM intermediate.sampling_frame
                             WHERE selection = 'SAMPLED' GROUP BY ALL ORDER BY ALL""") == sizes

    warehouse.build(APRIL)
    assert warehouse.sampled(APRIL) == default_seed  # and back again


def test_selection_does_not_depend_on_the_order_of_the_export(tmp_path, warehouse):
    rows = stratum_rows(APRIL, APRIL_STRATA)
    warehouse.load(APRIL, rows)
    warehouse.build(APRIL)
    other = Warehouse(tmp_path / "reversed.duckdb", tmp_path / "drop2")
    try:
        other.load(APRIL, list(reversed(rows)))
        other.build(APRIL)
        assert other.sampled(APRIL) == warehouse.sampled(APRIL)
    finally:
        other.close()


# ------------------------------------------------------------------ sizes and weights
SIZE_STRATA = {
    ("BURGLARY", "NORTH_DURHAM", False): 1,
    ("BURGLARY", "EAST_DURHAM", False): 3,
    ("BURGLARY", "SOUTH_DURHAM", False): 10,   # 0.15 x 10 = 1.5: a half, rounded up
    ("BURGLARY", "DARLINGTON", False): 67,
    ("VEHICLE", "NORTH_DURHAM", False): 7,
    ("HATE", "NORTH_DURHAM", False): 9,
    ("HATE", "DARLINGTON", False): 23,
    ("ASB", "EAST_DURHAM", False): 41,
    ("ASB", "SOUTH_DURHAM", False): 2,
    ("VIOLENCE", "NORTH_DURHAM", False): 13,
    ("VIOLENCE", "NORTH_DURHAM", True): 25,    # domestic abuse: its own strand and rate
    ("ASB", "DARLINGTON", True): 6,
}
STRAND_OF = {offence: offence for offence in OFFENCES}


@pytest.mark.parametrize("survey", [
    SurveySettings(),
    SurveySettings(sample_rate=0.3, strand_sample_rates={"HATE": 0.5, "ASB": 0.05}),
    SurveySettings(domestic_abuse_sample_rate=0.4),
    SurveySettings(sample_rate=0.2, domestic_abuse_sample_rate=0.6, strand_sample_rates={"DOMESTIC_ABUSE": 1.0}),
], ids=["defaults", "per-strand", "da-rate", "strand-rate-overrides-da-rate"])
def test_stratum_sample_sizes_follow_the_rates(warehouse, survey):
    warehouse.load(APRIL, stratum_rows(APRIL, SIZE_STRATA))
    warehouse.build(APRIL, survey=survey)
    rates = survey.sample_rates()

    eligible: Counter = Counter()
    for (offence, area, da), count in SIZE_STRATA.items():
        eligible["DOMESTIC_ABUSE" if da else STRAND_OF[offence], area] += count

    found = {
        (strand, area): (sampled, stratum_eligible, stratum_sampled, rate)
        for strand, area, sampled, stratum_eligible, stratum_sampled, rate in warehouse.rows(
            """SELECT survey_strand, policing_area, count(*) FILTER (WHERE selection = 'SAMPLED'),
                      any_value(stratum_eligible), any_value(stratum_sampled), any_value(target_rate)
               FROM intermediate.sampling_frame GROUP BY ALL""")
    }
    assert found.keys() == eligible.keys()
    for stratum, n in eligible.items():
        rate = rates[stratum[0]]
        expected = expected_sample_size(rate, n)
        assert found[stratum] == (expected, n, expected, pytest.approx(rate)), stratum
    if survey.strand_sample_rates.get("DOMESTIC_ABUSE") is None:
        assert rates["DOMESTIC_ABUSE"] == survey.domestic_abuse_sample_rate


def test_design_weights_add_up_to_each_stratums_eligible_count(warehouse):
    warehouse.load(APRIL, stratum_rows(APRIL, SIZE_STRATA))
    warehouse.build(APRIL, survey=SurveySettings(strand_sample_rates={"HATE": 0.5}))
    strata = warehouse.rows(
        """SELECT survey_strand, policing_area, count(*) AS eligible,
                  sum(design_weight) FILTER (WHERE selection = 'SAMPLED') AS weights,
                  count(DISTINCT design_weight) FILTER (WHERE selection = 'SAMPLED') AS distinct_weights,
                  count(design_weight) FILTER (WHERE selection <> 'SAMPLED') AS unsampled_with_weight
           FROM intermediate.sampling_frame WHERE selection IN ('SAMPLED', 'NOT_SAMPLED') GROUP BY ALL""")
    assert len(strata) == len(SIZE_STRATA)
    for strand, area, n, weights, distinct_weights, unsampled_with_weight in strata:
        assert weights == pytest.approx(n), (strand, area)
        assert distinct_weights == 1 and unsampled_with_weight == 0
    # The cohort carries the same weights, and the whole month adds up to its eligible victims.
    cohort_total, cohort_rows = warehouse.rows(
        "SELECT sum(design_weight), count(*) FROM intermediate.sampled_cohort")[0]
    assert cohort_total == pytest.approx(sum(SIZE_STRATA.values()))
    assert cohort_rows == len(warehouse.sampled(APRIL))


def test_cohort_has_contact_details_and_window_of_the_sampled_only(warehouse):
    warehouse.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
    warehouse.build(APRIL)
    cohort = warehouse.rows(
        """SELECT survey_id, surname, phone_number, contact_from - report_date, contact_until - report_date,
                  handoff_date FROM intermediate.sampled_cohort""")
    assert {row[0] for row in cohort} == warehouse.sampled(APRIL)
    assert all(surname == "Example" and phone.startswith("07700") for _, surname, phone, *_ in cohort)
    assert {(row[3], row[4], row[5]) for row in cohort} == {(56, 84, date(2025, 5, 1))}


# --------------------------------------------------------------------- no recontact
P = "TST-PREPEAT01"   # the repeat victim
RECONTACT_MONTHS = {
    # month: expected selection of P's report that month
    DEC_2024: "SAMPLED",
    date(2025, 2, 1): "RECENTLY_SURVEYED",
    date(2025, 12, 1): "RECENTLY_SURVEYED",   # 12 months after December 2024: still too soon
    date(2026, 1, 1): "SAMPLED",              # 13 months after: eligible again
}


def repeat_victim_month(month: date) -> list[dict[str, str]]:
    """P alone in the HATE x DARLINGTON stratum (so sampled when eligible), plus a few others."""
    return [victim(1, month, person=P, offence="HATE", area="DARLINGTON", phone="07700 900001"),
            *stratum_rows(month, {("BURGLARY", "NORTH_DURHAM", False): 8}, first=2)]


def ref_of(month: date, n: int = 1) -> str:
    return f"TST/C/{month:%Y-%m}/{n:05d}"


def test_no_recontact_within_twelve_months_across_a_year_boundary_in_one_range_run(warehouse):
    for month in RECONTACT_MONTHS:
        warehouse.load(month, repeat_victim_month(month))
    # One window from December 2024 to January 2026: sampling_frame is built month by month
    # inside it, each month reading the SAMPLED rows of the months before it.
    warehouse.build(DEC_2024, date(2026, 1, 1))
    assert {month: warehouse.selection_of(ref_of(month)) for month in RECONTACT_MONTHS} == RECONTACT_MONTHS
    # The other victims are sampled as usual in every month.
    for month in RECONTACT_MONTHS:
        others = warehouse.rows(
            """SELECT count(*) FROM intermediate.sampling_frame
               WHERE report_month = ? AND selection = 'SAMPLED' AND victim_person_id <> ?""", [month, P])
        assert others == [(1,)]
    cohort_months = [m for (m,) in warehouse.rows(
        "SELECT sampling_month FROM intermediate.sampled_cohort WHERE person_key = ? ORDER BY 1",
        [person_key(KEY, "DUR", P)])]
    assert cohort_months == [DEC_2024, date(2026, 1, 1)]


def build_one_at_a_time(warehouse, first: date, last: date) -> None:
    """Every month first..last, one build each and in order (months without reports are built empty)."""
    for month in months_in(first, next_month(last)):
        warehouse.build(month)


def test_no_recontact_when_months_are_built_one_at_a_time(warehouse):
    for month in RECONTACT_MONTHS:
        warehouse.load(month, repeat_victim_month(month))
    build_one_at_a_time(warehouse, DEC_2024, date(2026, 1, 1))
    assert {month: warehouse.selection_of(ref_of(month)) for month in RECONTACT_MONTHS} == RECONTACT_MONTHS


def test_no_recontact_from_the_contact_history(warehouse):
    """P was handed off for December 2024 (ops.contact_history); December's reports are not in this warehouse."""
    warehouse.conn.execute(
        """INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
           VALUES (?, 'S-earlier-survey', DATE '2024-12-01', DATE '2025-01-01')""",
        [person_key(KEY, "DUR", P)])
    later = {m: s for m, s in RECONTACT_MONTHS.items() if m != DEC_2024}
    for month in later:
        warehouse.load(month, repeat_victim_month(month))
    build_one_at_a_time(warehouse, date(2025, 2, 1), date(2026, 1, 1))
    assert {month: warehouse.selection_of(ref_of(month)) for month in later} == later


def test_contact_history_of_the_same_month_or_more_than_twelve_months_later_does_not_block(warehouse):
    warehouse.conn.execute(
        """INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
           VALUES (?, 'S-a', DATE '2025-02-01', DATE '2025-03-01'), (?, 'S-b', DATE '2026-03-01', DATE '2026-04-01')""",
        [person_key(KEY, "DUR", P)] * 2)
    month = date(2025, 2, 1)
    warehouse.load(month, repeat_victim_month(month))
    warehouse.build(month)
    assert warehouse.selection_of(ref_of(month)) == "SAMPLED"


@pytest.mark.parametrize("later_month", [date(2025, 3, 1), date(2026, 2, 1)], ids=["next-month", "12-months-later"])
def test_a_person_handed_off_in_a_later_month_is_passed_over(warehouse, later_month):
    """Months built out of order: P was handed off for a LATER month (within 12) before February
    was built. February must not hand P off again; the stratum keeps P in its count."""
    warehouse.conn.execute(
        """INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
           VALUES (?, 'S-later', ?, ?)""", [person_key(KEY, "DUR", P), later_month, next_month(later_month)])
    month = date(2025, 2, 1)
    rows = repeat_victim_month(month) + [victim(50, month, offence="HATE", area="DARLINGTON")]
    warehouse.load(month, rows)
    warehouse.build(month, survey=SurveySettings(strand_sample_rates={"HATE": 1.0}))   # both would be taken
    assert warehouse.selection_of(ref_of(month)) == "NOT_SAMPLED"
    assert warehouse.selection_of(ref_of(month, 50)) == "SAMPLED"   # the next in the draw order
    weights = warehouse.rows(
        """SELECT stratum_eligible, stratum_sampled, design_weight FROM intermediate.sampling_frame
           WHERE selection = 'SAMPLED' AND policing_area = 'DARLINGTON'""")
    assert weights == [(2, 1, 2.0)]
    # The stratum check agrees with the draw: 1 of 2 at a 100% rate, because P could not be drawn.
    assert strata_off_target(warehouse.conn, month, next_month(month), 12) == []


def test_the_stratum_check_names_each_stratum_off_target_with_expected_and_actual(warehouse):
    month = APRIL
    warehouse.load(month, stratum_rows(month, {("BURGLARY", "NORTH_DURHAM", False): 40,
                                               ("ASB", "DARLINGTON", False): 20}))
    warehouse.build(month)
    assert strata_off_target(warehouse.conn, month, next_month(month), 12) == []
    warehouse.conn.execute(   # two more sampled than the rate gives in one stratum
        """UPDATE intermediate.sampling_frame SET selection = 'SAMPLED'
           WHERE crime_reference IN (SELECT crime_reference FROM intermediate.sampling_frame
                                     WHERE policing_area = 'DARLINGTON' AND selection = 'NOT_SAMPLED'
                                     ORDER BY crime_reference LIMIT 2)""")
    off = strata_off_target(warehouse.conn, month, next_month(month), 12)
    assert [dict(zip(OFF_TARGET_COLUMNS, row)) for row in off] == [{
        "month": "2025-04", "force_code": "DUR", "survey_strand": "ASB", "policing_area": "DARLINGTON",
        "rate": 0.15, "eligible": 20, "passed_over_handed_off_later": 0, "expected_sampled": 3, "sampled": 5}]


def test_sampling_a_later_month_first_then_the_earlier_one_hands_nobody_off_twice(warehouse):
    """The measured failure: 2026-10 sampled, then 2026-09 (nothing built before either), put the
    same person in both. P is alone in a stratum in both months, so each month alone would take P."""
    september, october = date(2026, 9, 1), date(2026, 10, 1)
    for month in (september, october):
        warehouse.load(month, repeat_victim_month(month))
    warehouse.build(october)
    assert warehouse.selection_of(ref_of(october)) == "SAMPLED"
    warehouse.build(september)   # extends the chain backwards: allowed, it has no earlier month
    assert warehouse.selection_of(ref_of(september)) == "NOT_SAMPLED"
    both = warehouse.rows(
        """SELECT person_key FROM intermediate.sampled_cohort GROUP BY person_key
           HAVING count(DISTINCT sampling_month) > 1""")
    assert both == []


def test_a_month_is_refused_while_the_month_before_it_is_missing(warehouse):
    april, may, june = APRIL, date(2025, 5, 1), date(2025, 6, 1)
    for month in (april, may, june):
        warehouse.load(month, stratum_rows(month, {("BURGLARY", "NORTH_DURHAM", False): 10}))
    warehouse.build(april)
    with pytest.raises(Exception, match=r"sampling_frame 2025-06: refused, the month before it \(2025-05\)"):
        warehouse.build(june)
    assert warehouse.rows("SELECT count(*) FROM intermediate.sampling_frame WHERE report_month = ?", [june]) == [(0,)]
    warehouse.build(may)
    warehouse.build(june)
    assert warehouse.sampled(june)


def test_recontact_months_is_configurable(warehouse):
    for month in RECONTACT_MONTHS:
        warehouse.load(month, repeat_victim_month(month))
    warehouse.build(DEC_2024, date(2026, 1, 1), survey=SurveySettings(recontact_months=1))
    # With a one-month rule, only the month straight after a sampled month is too soon.
    assert {m: warehouse.selection_of(ref_of(m)) for m in RECONTACT_MONTHS} == {
        DEC_2024: "SAMPLED",
        date(2025, 2, 1): "SAMPLED",
        date(2025, 12, 1): "SAMPLED",
        date(2026, 1, 1): "RECENTLY_SURVEYED",   # sampled in December 2025
    }


# --------------------------------------------------------------------------- opt-outs
def test_contractor_opt_out_stops_later_sampling_by_person_and_by_phone(warehouse):
    march = date(2025, 3, 1)
    warehouse.load(march, [victim(1, march, person=P, offence="HATE", area="DARLINGTON", phone="07700 900001")])
    warehouse.build(march)
    assert warehouse.selection_of(ref_of(march)) == "SAMPLED"
    # The contractor returns OPT_OUT for P's survey: by person and by the phone P gave.
    added = record_contractor_opt_outs(
        warehouse.conn,
        """SELECT survey_id, DATE '2025-05-20' FROM intermediate.sampled_cohort
           WHERE sampling_month = DATE '2025-03-01'""",
        "returns_2025-04.csv")
    assert added == 1

    later = date(2026, 5, 1)  # beyond the recontact rule: only the opt-out can stop it
    warehouse.load(later, [
        victim(1, later, person=P, offence="HATE", area="DARLINGTON", phone="07700 900555"),   # new phone
        victim(2, later, person="TST-PHOUSEMATE", offence="HATE", area="NORTH_DURHAM",
               phone="+44 7700 900001"),                                                  # P's old phone
        victim(3, later, offence="HATE", area="SOUTH_DURHAM", phone="07700 900003"),
    ])
    warehouse.build(date(2025, 4, 1), later)   # the months in between, in order, as one range
    found = dict(warehouse.rows(
        "SELECT crime_reference, exclusion_reason FROM intermediate.victim_eligibility WHERE report_month = ?",
        [later]))
    assert found == {ref_of(later, 1): "OPTED_OUT", ref_of(later, 2): "OPTED_OUT", ref_of(later, 3): None}
    assert warehouse.sampled(later) == {sid for (sid,) in warehouse.rows(
        "SELECT survey_id FROM intermediate.victim_eligibility WHERE crime_reference = ?", [ref_of(later, 3)])}


def test_opt_out_arriving_after_eligibility_is_honoured_when_sampling(warehouse):
    warehouse.load(APRIL, [victim(1, APRIL, person=P, offence="HATE", area="DARLINGTON", phone="07700 900001"),
                           victim(2, APRIL, offence="HATE", area="DARLINGTON")])
    warehouse.build(APRIL, models=("stg_reports", "victim_eligibility", "eligible_victims"))
    assert record_direct_request(warehouse.conn, KEY, surname="example", phone="07700900001",
                                 received_on=date(2025, 4, 30)) == 2
    warehouse.build(APRIL, models=("sampling_frame", "sampled_cohort"))
    assert warehouse.selection_of(ref_of(APRIL, 1)) == "OPTED_OUT"
    assert warehouse.selection_of(ref_of(APRIL, 2)) == "SAMPLED"  # alone left in the stratum
    assert P not in {pid for (pid,) in warehouse.rows(
        "SELECT victim_person_id FROM intermediate.sampling_frame WHERE selection = 'SAMPLED'")}


def mark_sent(warehouse: Warehouse, month: date) -> None:
    """What the hand-off records for a sent month: its people in the contact history, and sent_at."""
    warehouse.conn.execute(
        """INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
           SELECT person_key, survey_id, sampling_month, handoff_date FROM intermediate.sampled_cohort
           WHERE sampling_month = ?""", [month])
    warehouse.conn.execute(
        """INSERT INTO ops.handoff_log (sampling_month, file, rows, sha256, layout_version, written_at, sent_at)
           VALUES (?, 'handoff.csv', 1, 'sha', 1, current_timestamp, current_timestamp)""", [month])


def test_an_opt_out_recorded_after_the_handoff_date_keeps_the_person_out_of_an_unsent_month(warehouse):
    """Opt-outs count from when the platform learns of them: April was never sent, so an opt-out
    recorded in June (after April's hand-off date of 1 May) keeps P out of April's re-run."""
    warehouse.load(APRIL, repeat_victim_month(APRIL))
    warehouse.build(APRIL)
    assert warehouse.selection_of(ref_of(APRIL)) == "SAMPLED"
    record_direct_request(warehouse.conn, KEY, surname="Example", phone="07700 900001",
                          received_on=date(2025, 6, 10))
    warehouse.build(APRIL)
    assert warehouse.rows(
        "SELECT exclusion_reason FROM intermediate.victim_eligibility WHERE crime_reference = ?",
        [ref_of(APRIL)]) == [("OPTED_OUT",)]
    assert P not in {pid for (pid,) in warehouse.rows("SELECT victim_person_id FROM intermediate.sampling_frame "
                                                      "WHERE selection = 'SAMPLED'")}


def test_a_sent_month_keeps_its_sample_when_an_opt_out_arrives_later(warehouse):
    """A sent month is settled: an opt-out recorded after it was sent changes nothing in it (the
    person was already called), but keeps the person out of the next month, which is not sent."""
    may = date(2025, 5, 1)
    warehouse.load(APRIL, repeat_victim_month(APRIL))
    warehouse.load(may, [victim(1, may, person="TST-PHOUSEMATE", offence="HATE", area="DARLINGTON",
                                phone="07700 900001"),
                         *stratum_rows(may, {("BURGLARY", "NORTH_DURHAM", False): 8}, first=2)])
    warehouse.build(APRIL)
    mark_sent(warehouse, APRIL)
    tables = ("intermediate.victim_eligibility", "intermediate.sampling_frame", "intermediate.sampled_cohort")
    before = {t: warehouse.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    record_direct_request(warehouse.conn, KEY, surname="Example", phone="07700 900001",
                          received_on=date(2025, 4, 20))   # dated before the hand-off, learnt after it
    warehouse.build(APRIL, may)
    month_column = {t: "sampling_month" if t.endswith("cohort") else "report_month" for t in tables}
    assert {t: warehouse.rows(f"SELECT * FROM {t} WHERE {month_column[t]} = ? ORDER BY ALL", [APRIL])
            for t in tables} == before
    assert warehouse.rows(   # the same phone, the next month
        "SELECT exclusion_reason FROM intermediate.victim_eligibility WHERE crime_reference = ?",
        [ref_of(may)]) == [("OPTED_OUT",)]


# ------------------------------------------------------------------------ Dagster runs
def project_assets(names: tuple[str, ...], extra: tuple = ()) -> list:
    """These assets of the code location and their checks (nothing else enters the run)."""
    from vsat_assets.definitions import defs

    assets = [a for a in defs.assets if {k.to_user_string() for k in a.keys} & set(names)]
    checks = [c for c in (defs.asset_checks or ())
              if {k.asset_key.to_user_string() for k in c.check_keys} & set(names)]
    assert {k.to_user_string() for a in assets for k in a.keys} == set(names)
    return [*assets, *checks, *extra]


def dagster_resources(warehouse_path: Path, drop_dir: Path, survey: SurveySettings | None = None) -> dict:
    from dagster_duckdb import DuckDBResource

    from vsat_assets.defs.raw_reports.assets import ReportSource

    return {
        "warehouse": DuckDBResource(database=str(warehouse_path)),
        "report_source": ReportSource(kind="exports", drop_dir=str(drop_dir)),
        "survey": survey or SurveySettings(),
    }


RANGE_ASSETS = ("offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
                "sampling_frame")
RANGE_MONTHS = (DEC_2024, date(2025, 1, 1), date(2025, 2, 1))


def range_month_rows(month: date) -> list[dict[str, str]]:
    """Each month: a dozen regulars who report every month (so recontact matters) and some newcomers."""
    rows = []
    for i in range(12):
        rows.append(victim(i + 1, month, person=f"TST-PREG{i:03d}", offence=("HATE", "ASB", "BURGLARY")[i % 3],
                           area=AREAS[i % 2], phone=f"07700 900{i:03d}"))
    rows += stratum_rows(month, {("HATE", "NORTH_DURHAM", False): 5 + month.month % 4,
                                 ("ASB", "EAST_DURHAM", False): 9,
                                 ("VIOLENCE", "DARLINGTON", True): 4}, first=100)
    return rows


def frame_contents(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                for table in ("intermediate.victim_eligibility", "intermediate.eligible_victims",
                              "intermediate.sampling_frame")}


@pytest.mark.slow
def test_a_range_run_equals_the_same_months_run_one_at_a_time(tmp_path):
    from dagster import DagsterInstance, materialize

    drop = tmp_path / "drop"
    for month in RANGE_MONTHS:
        write_export(drop, month, range_month_rows(month))
    assets = project_assets(RANGE_ASSETS)
    with DagsterInstance.ephemeral() as instance:
        ranged = materialize(
            assets, resources=dagster_resources(tmp_path / "range.duckdb", drop), instance=instance,
            tags={RANGE_START_TAG: "2024-12-01", RANGE_END_TAG: "2025-02-01"})
        assert ranged.success
        for month in RANGE_MONTHS:
            single = materialize(
                assets, resources=dagster_resources(tmp_path / "single.duckdb", drop), instance=instance,
                partition_key=month.isoformat())
            assert single.success
    in_range, one_by_one = frame_contents(tmp_path / "range.duckdb"), frame_contents(tmp_path / "single.duckdb")
    assert in_range == one_by_one
    selections = Counter(row[14] for row in in_range["intermediate.sampling_frame"])
    assert selections["SAMPLED"] and selections["NOT_SAMPLED"] and selections["RECENTLY_SURVEYED"]
    assert {row[0] for row in in_range["intermediate.sampling_frame"]} == set(RANGE_MONTHS)


DA_REGULARS = [f"TST-PDAREG{i:02d}" for i in range(3)]   # domestic abuse victims who report every month


def backfill_month_rows(month: date) -> list[dict[str, str]]:
    """range_month_rows, and three domestic abuse victims reporting every month beside four new ones."""
    rows = range_month_rows(month)
    rows += [victim(200 + i, month, person=person, offence="VIOLENCE", area="DARLINGTON", domestic_abuse=True,
                    phone=f"07700 9002{i:02d}") for i, person in enumerate(DA_REGULARS)]
    return rows


@pytest.mark.slow
def test_a_backfill_of_months_before_the_built_ones_passes_the_stratum_check_every_month(tmp_path):
    """The README's backfill: the demo built later months first; a job backfill then builds the months
    before them, one run per month, in order. Victims handed off in those later months are passed
    over (nobody is handed off twice), so a 100% domestic abuse rate is not met, and must not fail."""
    from dagster import DagsterInstance, materialize

    path, drop = tmp_path / "warehouse.duckdb", tmp_path / "drop"
    built_first, backfill = (date(2025, 2, 1), date(2025, 3, 1)), (DEC_2024, date(2025, 1, 1))
    for month in (*backfill, *built_first):
        write_export(drop, month, backfill_month_rows(month))
    assets = project_assets(RANGE_ASSETS)
    with DagsterInstance.ephemeral() as instance:
        # the months built first, then the backfill: one run per month, first queued first
        for month in (*built_first, *backfill):
            result = materialize(assets, resources=dagster_resources(path, drop), instance=instance,
                                 partition_key=month.isoformat(), raise_on_error=False)
            checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
            assert checks[STRATUM_RATES].passed, (month, checks[STRATUM_RATES].metadata)
            assert result.success, month

    with duckdb.connect(str(path), read_only=True) as conn:
        da = conn.execute(
            """SELECT report_month, count(*) FILTER (WHERE selection = 'SAMPLED'),
                      count(*) FILTER (WHERE selection IN ('SAMPLED', 'NOT_SAMPLED'))
               FROM intermediate.sampling_frame WHERE survey_strand = 'DOMESTIC_ABUSE' GROUP BY ALL ORDER BY 1"""
        ).fetchall()
        twice = conn.execute(
            """SELECT count(*) FROM intermediate.sampling_frame a JOIN intermediate.sampling_frame b
               ON a.person_key = b.person_key AND a.report_month < b.report_month
               WHERE a.selection = 'SAMPLED' AND b.selection = 'SAMPLED'""").fetchone()[0]
    # The regulars were handed off in February 2025 (built first): passed over in the backfilled months.
    assert da == [(DEC_2024, 4, 7), (date(2025, 1, 1), 4, 7), (date(2025, 2, 1), 7, 7), (date(2025, 3, 1), 4, 4)]
    assert twice == 0


def handoff_probe_asset(ran: list):
    """A stand-in for the hand-off: a monthly asset downstream of sampled_cohort that notes when it runs."""
    from dagster import AssetKey, MaterializeResult, asset

    from vsat_assets.partitions import monthly_partitions

    @asset(name="handoff_probe", deps=[AssetKey("sampled_cohort")], partitions_def=monthly_partitions)
    def handoff_probe(context):
        ran.append(context.partition_key)
        return MaterializeResult()

    return handoff_probe


def plant_opt_out_after_sampling(conn: duckdb.DuckDBPyConnection) -> None:
    """A sampled victim's opt-out lands after the frame was built, before the cohort is re-made."""
    conn.execute(f"""INSERT INTO {REGISTER} (person_key, phone_key, opted_out_on, channel, source)
                     SELECT person_key, NULL, DATE '2025-04-20', 'EMAIL', 'planted' FROM intermediate.sampling_frame
                     WHERE selection = 'SAMPLED' ORDER BY survey_id LIMIT 1""")


def plant_earlier_handoff(conn: duckdb.DuckDBPyConnection) -> None:
    """A sampled victim appears in the contact history for March: handed off a month ago."""
    conn.execute("""INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
                    SELECT person_key, 'S-planted', DATE '2025-03-01', DATE '2025-04-01'
                    FROM intermediate.sampling_frame WHERE selection = 'SAMPLED' ORDER BY survey_id LIMIT 1""")


def plant_malformed_phone(conn: duckdb.DuckDBPyConnection) -> None:
    """A sampled victim's stored phone number is not a UK number (only the GX suite checks formats)."""
    conn.execute("""UPDATE staging.stg_reports SET phone_normalised = '12345'
                    WHERE crime_reference = (SELECT min(crime_reference) FROM intermediate.sampling_frame
                                             WHERE selection = 'SAMPLED')""")


@pytest.mark.slow
@pytest.mark.parametrize("plant, failing_check", [
    (None, None),
    (plant_opt_out_after_sampling, "no_opted_out_or_recently_surveyed"),
    (plant_earlier_handoff, "no_opted_out_or_recently_surveyed"),
    (plant_malformed_phone, "cohort_expectations"),
], ids=["clean", "opt-out-after-sampling", "earlier-handoff", "malformed-phone"])
def test_a_failing_blocking_check_on_the_cohort_stops_the_downstream_asset(tmp_path, plant, failing_check):
    from dagster import DagsterInstance, materialize

    path = tmp_path / "warehouse.duckdb"
    built = Warehouse(path, tmp_path / "drop")
    built.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
    built.build(APRIL, models=("stg_reports", "victim_eligibility", "eligible_victims", "sampling_frame"))
    if plant:
        plant(built.conn)
    built.close()

    ran: list[str] = []
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            project_assets(("sampled_cohort",), extra=(handoff_probe_asset(ran),)),
            resources=dagster_resources(path, tmp_path / "drop"), instance=instance,
            partition_key="2025-04-01", raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "sampled_cohort" in materialised
    if failing_check == "cohort_expectations":  # names the expectation, never the phone number
        failed = evaluations[failing_check].metadata["failed"].value
        assert failed == ["expect_column_values_to_be_in_set phone_well_formed"]
        assert evaluations[failing_check].metadata["failed_details"].value == [{
            "expectation": "expect_column_values_to_be_in_set", "column": "phone_well_formed",
            "expected": {"value_set": ["True"]}, "unexpected_rows": 1, "unexpected_values": ["False"]}]
    if failing_check == "no_opted_out_or_recently_surveyed":  # which person, why, and since when
        metadata = evaluations[failing_check].metadata
        (failure,) = metadata["failures"].value
        reason, on = (("OPTED_OUT EMAIL (person)", "2025-04-20") if plant is plant_opt_out_after_sampling
                      else ("RECENTLY_SURVEYED (also handed off within 12 months)", "2025-03"))
        assert failure["reason"] == reason and failure["on"] == on and failure["sampling_month"] == "2025-04"
        assert failure["survey_id"].startswith("S") and metadata["failure_count"].value == 1
    if failing_check is None:
        assert all(checks.values()), checks
        assert result.success
        assert ran == ["2025-04-01"] and "handoff_probe" in materialised
    else:
        assert checks[failing_check] is False
        assert [name for name, passed in checks.items() if not passed] == [failing_check]
        assert ran == [] and "handoff_probe" not in materialised
        assert not result.success


def test_domestic_abuse_cap_lowers_the_months_rate_in_every_area(tmp_path, warehouse):
    strata = {("VIOLENCE", "NORTH_DURHAM", True): 60, ("VIOLENCE", "DARLINGTON", True): 20,
              ("ASB", "DARLINGTON", False): 40}
    warehouse.load(APRIL, stratum_rows(APRIL, strata))
    warehouse.build(APRIL, survey=SurveySettings(domestic_abuse_monthly_cap=40))
    rows = warehouse.rows("""SELECT policing_area, survey_strand, count(*) FILTER (WHERE selection = 'SAMPLED'),
                                    any_value(target_rate), max(design_weight)
                             FROM intermediate.sampling_frame GROUP BY ALL ORDER BY ALL""")
    by = {(area, strand): (n, rate, w) for area, strand, n, rate, w in rows}
    assert by[("NORTH_DURHAM", "DOMESTIC_ABUSE")] == (30, 0.5, 2.0)  # 40 of 80 eligible: half in each area
    assert by[("DARLINGTON", "DOMESTIC_ABUSE")] == (10, 0.5, 2.0)
    assert by[("DARLINGTON", "ASB")][1] == 0.15  # other strands keep their rate
