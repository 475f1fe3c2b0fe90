"""Eligibility rules (docs/method.md, Eligibility) through the real SQL models.

Most tests build the models directly (`vsat_assets.sql_runner.build.build_model`) on a
temporary DuckDB file loaded from small export CSVs read by the real export reader:
that takes milliseconds. One module-scoped Dagster run of the same month checks the
asset checks and the exclusion audit end to end.

Every person here is plainly fake ('Testy Example'), with phones in Ofcom's drama range
07700 900000-900999. The catalogue month below gives each rule, and each pair of rules
tested for precedence, a victim of its own, so one build answers every rule at once.
"""

from __future__ import annotations

import csv
from collections import Counter
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from vsat_assets.defs.raw_reports.exports import read_month_exports
from vsat_assets.defs.raw_reports.generator import load_offence_catalogue
from vsat_assets.defs.raw_reports.schema import REPORT_COLUMNS, report_table_ddl
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.sampling.opt_outs import REGISTER, person_key, phone_key, record_direct_request
from vsat_assets.sql_project import PROJECT_DIR, prepare_connection
from vsat_assets.sql_runner.build import build_model
from vsat_assets.sql_runner.models import load_model
from vsat_assets.vocabulary import EXCLUSION_RULES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APRIL = date(2025, 4, 1)
MAY = date(2025, 5, 1)
APRIL_KEY = "2025-04-01"
KEY = b"vsat-tests-pseudonym-key-not-a-secret"
# Only the models these tests build (and what they ref), loaded one by one: a model being
# written elsewhere in the project does not stop these tests.
MODEL_FILES = {
    "stg_reports": "staging", "victim_eligibility": "intermediate", "eligible_victims": "intermediate",
    "sampling_frame": "intermediate", "sampled_cohort": "intermediate", "exclusion_audit": "marts",
}
MODELS = {name: load_model(PROJECT_DIR / stage / f"{name}.sql") for name, stage in MODEL_FILES.items()}
ELIGIBILITY_MODELS = ("stg_reports", "victim_eligibility", "eligible_victims", "sampling_frame", "exclusion_audit")

# (record_type, offence_code, description) from vsat_assets/defs/raw_reports/offences.csv
OFFENCES = {
    "BURGLARY": ("CRIME", "BURG_RES", "Residential burglary"),
    "SEXUAL": ("CRIME", "SEX_OTHER", "Other sexual offences"),          # no survey strand
    "SHOPLIFTING": ("CRIME", "SHOPLIFTING", "Shoplifting"),             # no survey strand
    "VIOLENCE": ("CRIME", "VIOL_INJURY", "Violence with injury"),
    "HARASSMENT": ("CRIME", "STALK_HARASS", "Stalking and harassment"),
    "ASB": ("ASB", "ASB_PERSONAL", "Personal anti-social behaviour"),
    "HATE": ("CRIME", "HATE_RACE_RELIG", "Racially or religiously aggravated offence"),
}
AREAS = ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")
OPT_OUT_PHONE_AS_EMAILED = "07700 900123"   # the phone as written in the emailed opt-out
OPT_OUT_PHONE_AS_RECORDED = "+447700900123"  # the same number as the call handler typed it


# ----------------------------------------------------------------------------- helpers
def years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


def victim(n: int, month: date = APRIL, *, offence: str = "BURGLARY", person: int | None = None,
           day: int | None = None, **overrides) -> dict[str, str]:
    """One export row (all text, as a records system writes it): an eligible adult by default."""
    record_type, code, description = OFFENCES[offence]
    report_date = month + timedelta(days=(day - 1) if day else n % 27)
    row = {
        "force_code": "DUR",
        "crime_reference": f"TST/{'C' if record_type == 'CRIME' else 'A'}/{month:%Y-%m}/{n:05d}",
        "report_date": report_date.isoformat(),
        "record_type": record_type,
        "offence_code": code,
        "offence_description": description,
        "policing_area": AREAS[n % 4],
        "victim_person_id": f"TST-P{person if person is not None else n:05d}",
        "victim_title": "Mx",
        "victim_forename": "Testy",
        "victim_surname": "Example",
        "victim_date_of_birth": "1980-06-15",
        "victim_phone": f"07700 900{n % 1000:03d}",
        "victim_ethnicity": "NOT_STATED",
        "is_organisation": "false",
        "police_on_duty": "false",
        "is_deceased": "false",
        "is_sensitive": "false",
        "is_domestic_abuse": "false",
        "safe_to_contact": "",
    }
    for name, value in overrides.items():
        assert name in row, name
        row[name] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return row


def write_export(drop_dir: Path, month: date, rows: list[dict[str, str]]) -> Path:
    drop_dir.mkdir(parents=True, exist_ok=True)
    path = drop_dir / f"reports_{month:%Y-%m}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(REPORT_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def open_warehouse(path: Path | str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    prepare_connection(conn, KEY)
    conn.execute(report_table_ddl("raw.reports"))
    catalogue = load_offence_catalogue()
    conn.execute("CREATE OR REPLACE TABLE raw.offences AS SELECT * FROM catalogue")
    return conn


def load_month(conn: duckdb.DuckDBPyConnection, drop_dir: Path, month: date) -> int:
    """Read the month's exports with the real reader and store them in raw.reports."""
    frame = read_month_exports(drop_dir, month).to_arrow()
    conn.execute("DELETE FROM raw.reports WHERE date_trunc('month', report_date) = ?", [month])
    conn.execute("INSERT INTO raw.reports BY NAME SELECT * FROM frame")
    return frame.num_rows


def build(conn: duckdb.DuckDBPyConnection, window: tuple[date, date], survey: SurveySettings | None = None,
          models: tuple[str, ...] = ELIGIBILITY_MODELS) -> None:
    variables = (survey or SurveySettings()).model_vars()
    for name in models:
        build_model(conn, MODELS[name], MODELS, variables, window)


def reasons(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, str | None]]:
    """crime_reference -> (exclusion_reason, survey_strand): rules 1-9 from victim_eligibility,
    rules 10-11 (and late opt-outs, closed windows) from sampling_frame."""
    rows = conn.execute(
        """SELECT e.crime_reference,
                  coalesce(e.exclusion_reason,
                           CASE WHEN f.selection NOT IN ('SAMPLED', 'NOT_SAMPLED') THEN f.selection END),
                  e.survey_strand
           FROM intermediate.victim_eligibility e
           LEFT JOIN intermediate.sampling_frame f USING (crime_reference, victim_person_id)"""
    ).fetchall()
    return {ref: (reason, strand) for ref, reason, strand in rows}


def opt_out_person(conn, person_id: str, on: date = date(2025, 1, 2)) -> None:
    conn.execute(
        f"INSERT INTO {REGISTER} (person_key, phone_key, opted_out_on, channel, source) VALUES (?, NULL, ?, 'EMAIL', 'test')",
        [person_key(KEY, "DUR", person_id), on],
    )


# ------------------------------------------------------------------- the catalogue month
@dataclass
class Case:
    label: str
    expected: str | None             # exclusion_reason; None = eligible
    rows: list[dict[str, str]]
    strand: str | None = "BURGLARY"  # expected survey_strand of the first row
    rules: tuple[str, ...] = ()      # the rules it matches, in the documented order
    extra: dict = field(default_factory=dict)


def catalogue_cases() -> list[Case]:
    day15 = APRIL + timedelta(days=14)
    cases = [
        # --- each rule on its own
        Case("eligible adult", None, [victim(1)]),
        Case("sexual offence", "OUT_OF_SCOPE", [victim(2, offence="SEXUAL")], strand=None, rules=("OUT_OF_SCOPE",)),
        Case("shoplifting", "OUT_OF_SCOPE", [victim(3, offence="SHOPLIFTING")], strand=None, rules=("OUT_OF_SCOPE",)),
        Case("aged 17", "UNDER_AGE", [victim(4, day=15, victim_date_of_birth=years_before(day15, 17))],
             rules=("UNDER_AGE",)),
        Case("18 on the day of the report", None, [victim(5, day=15, victim_date_of_birth=years_before(day15, 18))]),
        Case("18 the day after the report", "UNDER_AGE",
             [victim(6, day=15, victim_date_of_birth=years_before(day15, 18) + timedelta(days=1))], rules=("UNDER_AGE",)),
        Case("aged 16", "UNDER_AGE", [victim(7, day=15, victim_date_of_birth=years_before(day15, 16))],
             rules=("UNDER_AGE",), extra={"min_age_16": None}),
        Case("aged 15", "UNDER_AGE", [victim(8, day=15, victim_date_of_birth=years_before(day15, 16) + timedelta(days=1))],
             rules=("UNDER_AGE",), extra={"min_age_16": "UNDER_AGE"}),
        Case("organisation", "NOT_A_PERSON", [victim(9, is_organisation=True, victim_surname="Example Widgets Ltd")],
             rules=("NOT_A_PERSON",)),
        Case("officer on duty", "POLICE_ON_DUTY", [victim(10, police_on_duty="Y")], rules=("POLICE_ON_DUTY",)),
        Case("deceased", "DECEASED", [victim(11, is_deceased=True)], rules=("DECEASED",)),
        Case("sensitive", "SENSITIVE", [victim(12, is_sensitive=True)], rules=("SENSITIVE",)),
        Case("DA, safe contact not asked", "NOT_SAFE_TO_CONTACT",
             [victim(13, offence="VIOLENCE", is_domestic_abuse=True, safe_to_contact=None)],
             strand="DOMESTIC_ABUSE", rules=("NOT_SAFE_TO_CONTACT",)),
        Case("DA, not safe to contact", "NOT_SAFE_TO_CONTACT",
             [victim(14, offence="HARASSMENT", is_domestic_abuse=True, safe_to_contact=False)],
             strand="DOMESTIC_ABUSE", rules=("NOT_SAFE_TO_CONTACT",)),
        Case("DA violence, safe to contact", None,
             [victim(15, offence="VIOLENCE", is_domestic_abuse=True, safe_to_contact=True)], strand="DOMESTIC_ABUSE"),
        Case("DA ASB, safe to contact", None,
             [victim(16, offence="ASB", is_domestic_abuse=True, safe_to_contact=True)], strand="DOMESTIC_ABUSE"),
        Case("not DA, safe_to_contact false", None,
             [victim(17, offence="VIOLENCE", safe_to_contact=False)], strand="VIOLENCE"),
        Case("no phone", "NO_PHONE", [victim(18, victim_phone=None)], rules=("NO_PHONE",)),
        Case("phone n/a", "NO_PHONE", [victim(19, victim_phone="n/a")], rules=("NO_PHONE",)),
        Case("phone too short", "NO_PHONE", [victim(20, victim_phone="07700 90012")], rules=("NO_PHONE",)),
        Case("phone freephone", "NO_PHONE", [victim(21, victim_phone="0800 900 1234")], rules=("NO_PHONE",)),
        Case("phone personal 070", "NO_PHONE", [victim(22, victim_phone="07000 900022")], rules=("NO_PHONE",)),
        Case("phone with extension", "NO_PHONE", [victim(23, victim_phone="07700 900023 ext 4")], rules=("NO_PHONE",)),
        Case("phone two numbers", "NO_PHONE", [victim(24, victim_phone="07700 900024 / 07700 900025")],
             rules=("NO_PHONE",)),
        Case("phone foreign", "NO_PHONE", [victim(25, victim_phone="+33 1 23 45 67 89")], rules=("NO_PHONE",)),
        Case("phone international form", None, [victim(26, victim_phone="+44 (0)7700 900026")]),
        Case("opted out by phone written differently", "OPTED_OUT",
             [victim(27, victim_phone=OPT_OUT_PHONE_AS_RECORDED)], rules=("OPTED_OUT",)),
        Case("opted out by person, new phone", "OPTED_OUT", [victim(28, victim_phone="07700 900928")],
             rules=("OPTED_OUT",), extra={"opt_out_person": "TST-P00028"}),
        Case("duplicate in month", None, [
            victim(29, day=10, person=29),
            victim(30, day=5, person=29),    # the earliest: kept
            victim(31, day=20, person=29),
        ], extra={"kept": "TST/C/2025-04/00030"}),
        Case("duplicate on the same day", None, [
            victim(33, day=8, person=32),
            victim(32, day=8, person=32),    # same day: lowest crime reference is kept
        ], extra={"kept": "TST/C/2025-04/00032"}),
        Case("duplicate whose earliest report is sensitive", None, [
            victim(34, day=2, person=34, is_sensitive=True),
            victim(35, day=9, person=34),    # the earliest *eligible* report: kept
            victim(36, day=12, person=34),
        ], extra={"kept": "TST/C/2025-04/00035", "excluded": {"TST/C/2025-04/00034": "SENSITIVE"}}),
        # --- precedence: victims matching several rules get the first in the documented order
        Case("sexual offence, aged 15", "OUT_OF_SCOPE",
             [victim(40, offence="SEXUAL", day=15, victim_date_of_birth=years_before(day15, 15))],
             strand=None, rules=("OUT_OF_SCOPE", "UNDER_AGE")),
        Case("aged 15, organisation", "UNDER_AGE",
             [victim(41, day=15, victim_date_of_birth=years_before(day15, 15), is_organisation=True)],
             rules=("UNDER_AGE", "NOT_A_PERSON")),
        Case("organisation, officer on duty", "NOT_A_PERSON",
             [victim(42, is_organisation=True, police_on_duty=True)], rules=("NOT_A_PERSON", "POLICE_ON_DUTY")),
        Case("officer on duty, deceased", "POLICE_ON_DUTY",
             [victim(43, police_on_duty=True, is_deceased=True)], rules=("POLICE_ON_DUTY", "DECEASED")),
        Case("deceased, sensitive", "DECEASED", [victim(44, is_deceased=True, is_sensitive=True)],
             rules=("DECEASED", "SENSITIVE")),
        Case("sensitive, DA not safe", "SENSITIVE",
             [victim(45, offence="VIOLENCE", is_sensitive=True, is_domestic_abuse=True, safe_to_contact=False)],
             strand="DOMESTIC_ABUSE", rules=("SENSITIVE", "NOT_SAFE_TO_CONTACT")),
        Case("DA not safe, no phone", "NOT_SAFE_TO_CONTACT",
             [victim(46, offence="VIOLENCE", is_domestic_abuse=True, victim_phone="n/a")],
             strand="DOMESTIC_ABUSE", rules=("NOT_SAFE_TO_CONTACT", "NO_PHONE")),
        Case("no phone, opted out by person", "NO_PHONE", [victim(47, victim_phone="")],
             rules=("NO_PHONE", "OPTED_OUT"), extra={"opt_out_person": "TST-P00047"}),
        Case("opted out, twice in the month", "OPTED_OUT",
             [victim(48, day=3, person=48), victim(49, day=6, person=48)],
             rules=("OPTED_OUT", "DUPLICATE_IN_MONTH"), extra={"opt_out_person": "TST-P00048"}),
        Case("aged 15, opted out by phone", "UNDER_AGE",
             [victim(50, day=15, victim_date_of_birth=years_before(day15, 15), victim_phone="07700900123")],
             rules=("UNDER_AGE", "OPTED_OUT")),
        Case("sexual offence, organisation, deceased, sensitive, no phone", "OUT_OF_SCOPE",
             [victim(51, offence="SEXUAL", is_organisation=True, is_deceased=True, is_sensitive=True, victim_phone="")],
             strand=None, rules=("OUT_OF_SCOPE", "NOT_A_PERSON", "DECEASED", "SENSITIVE", "NO_PHONE")),
        Case("sensitive, no phone", "SENSITIVE", [victim(52, is_sensitive=True, victim_phone="none")],
             rules=("SENSITIVE", "NO_PHONE")),
    ]
    refs = [row["crime_reference"] for case in cases for row in case.rows]
    assert len(refs) == len(set(refs))
    return cases


CASES = catalogue_cases()
CASE_BY_LABEL = {case.label: case for case in CASES}


def register_catalogue_opt_outs(conn: duckdb.DuckDBPyConnection) -> None:
    # The emailed request, written '07700 900123'; staging is still empty, so it is held by phone only.
    assert record_direct_request(conn, KEY, surname="Nobody", phone=OPT_OUT_PHONE_AS_EMAILED,
                                 received_on=date(2025, 1, 2), reference="EMAIL-1") == 1
    for case in CASES:
        if "opt_out_person" in case.extra:
            opt_out_person(conn, case.extra["opt_out_person"])


def build_catalogue(tmp_path: Path, survey: SurveySettings | None = None) -> duckdb.DuckDBPyConnection:
    drop = tmp_path / "drop"
    write_export(drop, APRIL, [row for case in CASES for row in case.rows])
    conn = open_warehouse(tmp_path / "warehouse.duckdb")
    register_catalogue_opt_outs(conn)
    load_month(conn, drop, APRIL)
    build(conn, (APRIL, MAY), survey)
    return conn


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict[str, tuple[str | None, str | None]]:
    conn = build_catalogue(tmp_path_factory.mktemp("catalogue"))
    try:
        return reasons(conn)
    finally:
        conn.close()


# ------------------------------------------------------------------------- single rules
@pytest.mark.parametrize("label", [c.label for c in CASES if len(c.rows) == 1 and len(c.rules) <= 1])
def test_each_rule_on_its_own(catalogue, label):
    case = CASE_BY_LABEL[label]
    reason, strand = catalogue[case.rows[0]["crime_reference"]]
    assert reason == case.expected
    assert strand == case.strand


@pytest.mark.parametrize("label", [c.label for c in CASES if len(c.rules) >= 2])
def test_precedence_first_rule_in_the_documented_order_wins(catalogue, label):
    case = CASE_BY_LABEL[label]
    assert case.expected == case.rules[0]
    assert [EXCLUSION_RULES.index(r) for r in case.rules] == sorted(EXCLUSION_RULES.index(r) for r in case.rules)
    for row in case.rows:
        assert catalogue[row["crime_reference"]][0] == case.expected, row["crime_reference"]


def test_domestic_abuse_victims_are_only_ever_in_the_domestic_abuse_strand(catalogue):
    da_refs = [row["crime_reference"] for case in CASES for row in case.rows
               if row["is_domestic_abuse"] == "true" and row["offence_code"] != "SEX_OTHER"]
    assert da_refs
    assert {catalogue[ref][1] for ref in da_refs} == {"DOMESTIC_ABUSE"}
    eligible_da = [ref for ref in da_refs if catalogue[ref][0] is None]
    assert len(eligible_da) == 2  # the two with a safe-contact confirmation
    non_da_strands = {catalogue[row["crime_reference"]][1] for case in CASES for row in case.rows
                      if row["is_domestic_abuse"] == "false"}
    assert "DOMESTIC_ABUSE" not in non_da_strands


@pytest.mark.parametrize("label", [c.label for c in CASES if "kept" in c.extra])
def test_duplicate_in_month_keeps_the_earliest_eligible_report(catalogue, label):
    case = CASE_BY_LABEL[label]
    excluded = case.extra.get("excluded", {})
    for row in case.rows:
        ref = row["crime_reference"]
        if ref == case.extra["kept"]:
            expected = None
        else:
            expected = excluded.get(ref, "DUPLICATE_IN_MONTH")
        assert catalogue[ref][0] == expected, ref


def test_the_sampling_frame_has_one_report_per_person_and_a_survey_id(tmp_path):
    conn = build_catalogue(tmp_path)
    with conn:
        eligible = conn.execute(
            """SELECT victim_person_id, survey_id, person_key, phone_key FROM intermediate.sampling_frame
               WHERE selection IN ('SAMPLED', 'NOT_SAMPLED')"""
        ).fetchall()
        expected = {case.extra["kept"] if "kept" in case.extra else case.rows[0]["crime_reference"]
                    for case in CASES if case.expected is None}
        refs = {ref for (ref,) in conn.execute(
            "SELECT crime_reference FROM intermediate.sampling_frame WHERE selection IN ('SAMPLED', 'NOT_SAMPLED')"
        ).fetchall()}
        assert refs == expected
        assert len({pid for pid, *_ in eligible}) == len(eligible)
        assert all(sid and pk and ph for _, sid, pk, ph in eligible)


# ------------------------------------------------------------------------ configuration
def test_min_age_is_configurable(tmp_path):
    conn = build_catalogue(tmp_path, SurveySettings(min_age=16))
    with conn:
        found = reasons(conn)
    for case in CASES:
        if "min_age_16" in case.extra:
            assert found[case.rows[0]["crime_reference"]][0] == case.extra["min_age_16"], case.label
    assert found[CASE_BY_LABEL["aged 17"].rows[0]["crime_reference"]][0] is None


# Switching OUT_OF_SCOPE off would leave victims with no strand: it is tested on its own below.
SWITCHABLE = [r for r in EXCLUSION_RULES if r not in ("OUT_OF_SCOPE", "RECENTLY_SURVEYED")]


@pytest.mark.parametrize("rule", SWITCHABLE)
def test_switching_a_rule_off(tmp_path, rule):
    conn = build_catalogue(tmp_path, SurveySettings(exclusion_rules=[r for r in EXCLUSION_RULES if r != rule]))
    with conn:
        found = reasons(conn)
        screened = dict(conn.execute(
            "SELECT crime_reference, selection FROM intermediate.sampling_frame").fetchall())
    assert rule not in {reason for reason, _ in found.values()}
    for case in CASES:
        if case.rules == (rule,):
            # the victims excluded by this rule alone are now eligible (and not screened out later)
            for row in case.rows:
                ref = row["crime_reference"]
                assert found[ref][0] is None, case.label
                assert screened[ref] in ("SAMPLED", "NOT_SAMPLED"), case.label
        elif len(case.rules) >= 2 and case.rules[0] == rule:
            # victims matching this rule and a later one fall through to the later one
            if case.rules[1] == "DUPLICATE_IN_MONTH":  # the earliest report is then kept
                assert [found[row["crime_reference"]][0] for row in case.rows] == (
                    [None] + ["DUPLICATE_IN_MONTH"] * (len(case.rows) - 1)), case.label
            else:
                assert found[case.rows[0]["crime_reference"]][0] == case.rules[1], case.label
        elif rule not in case.rules and "kept" not in case.extra:
            assert found[case.rows[0]["crime_reference"]][0] == case.expected, case.label
    if rule == "DUPLICATE_IN_MONTH":
        for case in CASES:
            if "kept" in case.extra:
                for row in case.rows:
                    expected = case.extra.get("excluded", {}).get(row["crime_reference"])
                    assert found[row["crime_reference"]][0] == expected


def test_unknown_rule_name_is_refused():
    with pytest.raises(ValueError, match="unknown rules"):
        SurveySettings(exclusion_rules=["OUT_OF_SCOPE", "NOT_A_RULE"]).model_vars()


def test_every_rule_switched_off_leaves_only_out_of_scope_victims_unsurveyable(tmp_path):
    """With no rule at all, every in-scope victim is eligible (one per person); no row is dropped."""
    conn = build_catalogue(tmp_path, SurveySettings(exclusion_rules=["OUT_OF_SCOPE"]))
    with conn:
        found = reasons(conn)
    assert len(found) == sum(len(case.rows) for case in CASES)
    assert {reason for reason, strand in found.values() if strand is not None} == {None}
    assert {reason for reason, strand in found.values() if strand is None} == {"OUT_OF_SCOPE"}


# ---------------------------------------------------------- every victim classified once
def test_every_victim_classified_exactly_once_in_sql(tmp_path):
    conn = build_catalogue(tmp_path)
    with conn:
        raw = conn.execute("SELECT count(*) FROM raw.reports").fetchone()[0]
        rows, distinct, both_or_neither = conn.execute(
            """SELECT count(*), count(DISTINCT (crime_reference, victim_person_id)),
                      count(*) FILTER (WHERE (exclusion_reason IS NULL) = (survey_id IS NULL))
               FROM intermediate.victim_eligibility""").fetchone()
    assert raw == rows == distinct == sum(len(case.rows) for case in CASES)
    assert both_or_neither == 0


# ------------------------------------------------------------------ the Dagster run
ELIGIBILITY_ASSETS = ("offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility",
                      "eligible_victims", "sampling_frame", "exclusion_audit")


def project_assets(names: tuple[str, ...]) -> list:
    """The code location's definitions of these assets and of the asset checks on them.

    Only these are passed to `materialize`, so assets added elsewhere in the code location
    (and the resources they need) do not enter the run.
    """
    from vsat_assets.definitions import defs

    assets = [a for a in defs.assets if {k.to_user_string() for k in a.keys} & set(names)]
    checks = [c for c in (defs.asset_checks or ())
              if {k.asset_key.to_user_string() for k in c.check_keys} & set(names)]
    assert {k.to_user_string() for a in assets for k in a.keys} == set(names)
    return [*assets, *checks]


@pytest.fixture(scope="module")
def dagster_catalogue_run(tmp_path_factory):
    """One Dagster run of the catalogue month from an export folder: (result, warehouse path)."""
    from dagster import DagsterInstance, materialize
    from dagster_duckdb import DuckDBResource

    from vsat_assets.defs.raw_reports.assets import ReportSource

    base = tmp_path_factory.mktemp("dagster_catalogue")
    drop = base / "drop"
    write_export(drop, APRIL, [row for case in CASES for row in case.rows])
    warehouse = base / "warehouse.duckdb"
    # The run computes pseudonyms with settings.pseudonym_key(): register opt-outs with the same key.
    from vsat_assets import settings
    from vsat_assets.warehouse import ensure_schemas

    run_key = settings.pseudonym_key()[0]
    with duckdb.connect(str(warehouse)) as conn:
        ensure_schemas(conn)
        record_direct_request(conn, run_key, surname="Nobody", phone=OPT_OUT_PHONE_AS_EMAILED,
                              received_on=date(2025, 1, 2), reference="EMAIL-1")
        for case in CASES:
            if "opt_out_person" in case.extra:
                conn.execute(
                    f"INSERT INTO {REGISTER} (person_key, opted_out_on, channel) VALUES (?, DATE '2025-01-02', 'EMAIL')",
                    [person_key(run_key, "DUR", case.extra["opt_out_person"])],
                )
    resources = {
        "warehouse": DuckDBResource(database=str(warehouse)),
        "report_source": ReportSource(kind="exports", drop_dir=str(drop)),
        "survey": SurveySettings(),
    }
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            project_assets(ELIGIBILITY_ASSETS), resources=resources, instance=instance,
            partition_key=APRIL_KEY, raise_on_error=False,
        )
    return result, warehouse


@pytest.mark.slow
def test_dagster_run_classifies_every_victim_once(dagster_catalogue_run):
    result, warehouse = dagster_catalogue_run
    assert result.success
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("victim_eligibility", "every_victim_classified_once")] is True
    failed = sorted(name for name, passed in checks.items() if not passed)
    assert not failed
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        raw = conn.execute("SELECT count(*) FROM raw.reports").fetchone()[0]
        classified = conn.execute("SELECT count(*) FROM intermediate.victim_eligibility").fetchone()[0]
        found = {ref: reason for ref, reason in conn.execute(
            "SELECT crime_reference, exclusion_reason FROM intermediate.victim_eligibility").fetchall()}
    assert raw == classified == sum(len(case.rows) for case in CASES)
    # Same outcomes as the direct build, opt-outs included (registered with the run's key).
    for case in CASES:
        if len(case.rows) == 1:
            assert found[case.rows[0]["crime_reference"]] == case.expected, case.label


@pytest.mark.slow
def test_exclusion_audit_agrees_with_victim_eligibility(dagster_catalogue_run):
    result, warehouse = dagster_catalogue_run
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        audit = conn.execute(
            """SELECT month, force_code, survey_strand, area, reason, victims FROM marts.exclusion_audit
               ORDER BY ALL""").fetchall()
        expected = conn.execute(
            """SELECT strftime(v.report_month, '%Y-%m'), v.force_code, coalesce(v.survey_strand, 'NOT_SURVEYED'),
                      v.policing_area,
                      coalesce(v.exclusion_reason,
                               CASE WHEN f.selection IN ('SAMPLED', 'NOT_SAMPLED') THEN 'ELIGIBLE' ELSE f.selection END),
                      count(*)
               FROM intermediate.victim_eligibility v
               LEFT JOIN intermediate.sampling_frame f USING (survey_id)
               GROUP BY ALL ORDER BY ALL""").fetchall()
        by_reason = dict(conn.execute(
            "SELECT reason, sum(victims)::INTEGER FROM marts.exclusion_audit GROUP BY ALL").fetchall())
        # rules 1-9 from victim_eligibility, the rest (and ELIGIBLE) from the sampling frame
        per_reason = Counter(dict(conn.execute(
            """SELECT exclusion_reason, count(*) FROM intermediate.victim_eligibility
               WHERE exclusion_reason IS NOT NULL GROUP BY ALL""").fetchall()))
        per_reason += Counter(dict(conn.execute(
            """SELECT CASE WHEN selection IN ('SAMPLED', 'NOT_SAMPLED') THEN 'ELIGIBLE' ELSE selection END, count(*)
               FROM intermediate.sampling_frame GROUP BY ALL""").fetchall()))
    assert audit == expected
    assert by_reason == dict(per_reason)
    assert sum(by_reason.values()) == sum(len(case.rows) for case in CASES)


# ------------------------------------------------------------------------- opt-outs
def test_opt_out_by_phone_written_differently(tmp_path):
    drop = tmp_path / "drop"
    write_export(drop, APRIL, [victim(1, victim_phone=OPT_OUT_PHONE_AS_RECORDED), victim(2)])
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn:
        added = record_direct_request(conn, KEY, surname="Example", phone=OPT_OUT_PHONE_AS_EMAILED,
                                      received_on=date(2025, 3, 1), reference="EMAIL-7")
        assert added == 1
        stored = conn.execute(f"SELECT person_key, phone_key FROM {REGISTER}").fetchall()
        assert stored == [(None, phone_key(KEY, "07700900123"))]
        load_month(conn, drop, APRIL)
        build(conn, (APRIL, MAY))
        found = reasons(conn)
    assert found["TST/C/2025-04/00001"][0] == "OPTED_OUT"
    assert found["TST/C/2025-04/00002"][0] is None


def test_emailed_opt_out_matches_the_person_when_staging_knows_them(tmp_path):
    """Surname and phone match a victim in staging: the person is held too, so a new phone doesn't escape it."""
    drop = tmp_path / "drop"
    write_export(drop, APRIL, [victim(1, victim_phone=OPT_OUT_PHONE_AS_RECORDED, victim_surname="Example")])
    write_export(drop, MAY, [victim(2, month=MAY, person=1, victim_phone="07700 900777")])
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn:
        load_month(conn, drop, APRIL)
        load_month(conn, drop, MAY)
        build(conn, (APRIL, MAY))
        added = record_direct_request(conn, KEY, surname=" example ", phone="(07700) 900-123",
                                      received_on=date(2025, 5, 2))
        assert added == 2  # by phone, and by person
        build(conn, (MAY, date(2025, 6, 1)))
        found = reasons(conn)
    assert found["TST/C/2025-05/00002"][0] == "OPTED_OUT"


def test_same_request_twice_is_one_entry(tmp_path):
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn:
        first = record_direct_request(conn, KEY, surname="Example", phone="07700 900123", received_on=date(2025, 3, 1))
        again = record_direct_request(conn, KEY, surname="Example", phone="07700 900123", received_on=date(2025, 3, 9))
        other_format = record_direct_request(conn, KEY, surname="EXAMPLE", phone="+44 7700 900123",
                                             received_on=date(2025, 3, 10))
        entries = conn.execute(f"SELECT count(*) FROM {REGISTER}").fetchone()[0]
    assert (first, again, other_format, entries) == (1, 0, 0, 1)


def test_unusable_opt_out_phone_is_refused_without_echoing_it(tmp_path):
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn, pytest.raises(ValueError) as raised:
        record_direct_request(conn, KEY, surname="Example", phone="0800 900 555", received_on=date(2025, 3, 1))
    assert "900" not in str(raised.value)


def _run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VSAT_PSEUDONYM_KEY"}
    env["VSAT_PROFILE"] = "demo"
    env["VSAT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "vsat_assets.defs.sampling", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.slow
def test_cli_adds_an_entry_and_prints_no_phone_number(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    from vsat_assets.warehouse import ensure_schemas

    with duckdb.connect(str(data_dir / "vsat.duckdb")) as conn:  # the CLI never creates a warehouse
        ensure_schemas(conn)
    result = _run_cli(data_dir, "--surname", "Example", "--phone", "07700 900123", "--reference", "EMAIL-42",
                      "--received-on", "2025-03-01")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for shown in ("07700 900123", "07700900123", "7700900123", "900123"):
        assert shown not in output
    assert "1 new" in result.stdout

    from vsat_assets.privacy import DEV_PSEUDONYM_KEY

    with duckdb.connect(str(data_dir / "vsat.duckdb"), read_only=True) as conn:
        entries = conn.execute(
            f"SELECT person_key, phone_key, opted_out_on, channel, source FROM {REGISTER}").fetchall()
    assert entries == [(None, phone_key(DEV_PSEUDONYM_KEY, "07700900123"), date(2025, 3, 1), "EMAIL", "EMAIL EMAIL-42")]

    again = _run_cli(data_dir, "--surname", "Example", "--phone", "+447700900123")
    assert again.returncode == 0, again.stderr
    assert "already on the register" in again.stdout
    assert "900123" not in again.stdout + again.stderr
    with duckdb.connect(str(data_dir / "vsat.duckdb"), read_only=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {REGISTER}").fetchone()[0] == 1


# ------------------------------------------------- RECENTLY_SURVEYED before DUPLICATE_IN_MONTH
def test_recently_surveyed_takes_precedence_over_duplicate_in_month(tmp_path):
    march = date(2025, 3, 1)
    drop = tmp_path / "drop"
    write_export(drop, march, [victim(1, month=march, person=1, offence="HATE")])  # alone in its stratum: sampled
    write_export(drop, APRIL, [victim(2, person=1, day=3), victim(3, person=1, day=9)])
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn:
        load_month(conn, drop, march)
        load_month(conn, drop, APRIL)
        build(conn, (march, MAY))
        march_selection = conn.execute(
            "SELECT selection FROM intermediate.sampling_frame WHERE report_month = ?", [march]).fetchall()
        audit = dict(conn.execute(
            "SELECT reason, sum(victims)::INTEGER FROM marts.exclusion_audit WHERE month = '2025-04' GROUP BY ALL"
        ).fetchall())
    assert march_selection == [("SAMPLED",)]
    # Both April reports match rule 10 (handed off in the previous 12 months); the second also rule 11.
    assert audit == {"RECENTLY_SURVEYED": 2}


def test_a_person_matched_by_an_opted_out_phone_is_opted_out_for_the_whole_month(tmp_path):
    drop = tmp_path / "drop"
    write_export(drop, APRIL, [victim(1, person=1, day=2, victim_phone="07700 900123"),
                               victim(2, person=1, day=5, victim_phone="07700 900222")])
    conn = open_warehouse(tmp_path / "w.duckdb")
    with conn:
        record_direct_request(conn, KEY, surname="Nobody", phone=OPT_OUT_PHONE_AS_EMAILED, received_on=date(2025, 1, 2))
        load_month(conn, drop, APRIL)
        build(conn, (APRIL, MAY))
        found = reasons(conn)
        sampled = conn.execute(
            "SELECT count(*) FROM intermediate.sampling_frame WHERE selection = 'SAMPLED'").fetchone()[0]
    assert found["TST/C/2025-04/00001"][0] == "OPTED_OUT"
    assert sampled == 0
    assert found["TST/C/2025-04/00002"][0] == "OPTED_OUT"
