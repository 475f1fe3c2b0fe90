"""Tests of the built-in synthetic report generator and its offence catalogue."""

import datetime
import re

import polars as pl
import pytest

from vsat_assets.defs.raw_reports.generator import (
    ANNUAL_ASB,
    ANNUAL_CRIMES,
    GeneratorSettings,
    generate_month,
    generate_month_frame,
    load_offence_catalogue,
)
from vsat_assets.defs.raw_reports.schema import ETHNICITIES, REPORT_COLUMNS

APRIL = datetime.date(2023, 4, 1)
MAY = datetime.date(2023, 5, 1)
STRANDS = {"BURGLARY", "VEHICLE", "VIOLENCE", "CRIMINAL_DAMAGE", "HARASSMENT", "FRAUD", "HATE", "ASB"}

# Ofcom drama numbers in national form (digits only, leading 0).
DRAMA_NUMBER = re.compile(
    r"^(07700900\d{3}"
    r"|01914980\d{3}|0(113|114|115|116|117|118|121|131|141|151|161)4960\d{3}"
    r"|02079460\d{3}|02920180\d{3}|01632960\d{3})$"
)


@pytest.fixture(scope="module")
def april() -> pl.DataFrame:
    return generate_month_frame(APRIL, GeneratorSettings())


@pytest.fixture(scope="module")
def year() -> pl.DataFrame:
    months = [datetime.date(2022 + (m < 4), m, 1) for m in (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)]
    return pl.concat([generate_month_frame(m, GeneratorSettings()) for m in months])


def national_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "0" + digits[2:] if digits.startswith("44") else digits


def test_catalogue_shares_and_strands():
    catalogue = load_offence_catalogue()
    assert catalogue["offence_code"].is_unique().all()
    totals = dict(catalogue.group_by("record_type").agg(pl.col("share").sum()).iter_rows())
    assert totals.keys() == {"CRIME", "ASB"}
    assert all(total == pytest.approx(1.0) for total in totals.values())
    assert set(catalogue["survey_strand"].drop_nulls()) == STRANDS
    assert catalogue["organisation_share"].is_between(0, 1).all()
    out_of_scope = catalogue.filter(pl.col("survey_strand").is_null())["offence_code"].to_list()
    assert {"SEX_RAPE", "SEX_OTHER", "SHOPLIFTING", "ASB_ENVIRONMENTAL"} <= set(out_of_scope)


def test_same_seed_and_month_is_identical(april):
    again = generate_month_frame(APRIL, GeneratorSettings())
    assert again.equals(april)


def test_other_seed_or_month_differs(april):
    def first_offences(frame: pl.DataFrame) -> list[str]:
        return frame.filter(pl.col("record_type") == "CRIME")["offence_code"].head(200).to_list()

    other_seed = generate_month_frame(APRIL, GeneratorSettings(seed=7))
    may = generate_month_frame(MAY, GeneratorSettings())
    assert first_offences(other_seed) != first_offences(april)
    assert first_offences(may) != first_offences(april)


def test_month_does_not_depend_on_earlier_generation():
    settings = GeneratorSettings(scale=0.1, forces=2)
    fresh = generate_month_frame(MAY, settings)
    generate_month_frame(APRIL, settings)
    assert generate_month_frame(MAY, settings).equals(fresh)


def test_columns_and_dtypes_match_contract(april):
    assert april.schema == pl.Schema(REPORT_COLUMNS)
    for frame in generate_month(APRIL, GeneratorSettings(scale=0.05, forces=2)):
        assert frame.schema == pl.Schema(REPORT_COLUMNS)


def test_required_values_and_formats(april):
    assert april["report_date"].is_between(APRIL, datetime.date(2023, 4, 30)).all()
    assert april["crime_reference"].str.contains(r"^DUR/[CA]/2023-04/\d{6}$").all()
    assert april["victim_person_id"].str.contains(r"^DUR-P\d{8}$").all()
    catalogue = load_offence_catalogue()
    joined = april.join(catalogue, on="offence_code", how="left", suffix="_cat")
    assert (joined["offence_description"] == joined["offence_description_cat"]).all()
    assert (joined["record_type"] == joined["record_type_cat"]).all()
    crime_ref = april["crime_reference"].str.contains("/C/")
    assert (crime_ref == (april["record_type"] == "CRIME")).all()
    assert set(april["victim_ethnicity"].drop_nulls()) <= set(ETHNICITIES)


def test_reference_and_person_pairs_are_unique(year):
    assert not year.select("crime_reference", "victim_person_id").is_duplicated().any()


def test_second_victims_share_a_reference(april):
    per_ref = april.group_by("crime_reference").len()
    share = (per_ref["len"] == 2).sum() / per_ref.height
    assert per_ref["len"].max() == 2
    assert 0.005 < share < 0.04


def test_year_volumes_at_scale_one(year):
    crimes = year.filter(pl.col("record_type") == "CRIME")["crime_reference"].n_unique()
    asb = year.filter(pl.col("record_type") == "ASB")["crime_reference"].n_unique()
    assert crimes == pytest.approx(ANNUAL_CRIMES, rel=0.10)
    assert asb == pytest.approx(ANNUAL_ASB, rel=0.10)
    by_month = year.filter(pl.col("record_type") == "ASB").group_by(pl.col("report_date").dt.month()).len()
    counts = dict(by_month.iter_rows())
    assert counts[7] > counts[1]  # summer ASB peak


def test_mix_of_victims_present(year):
    people = year.filter(~pl.col("is_organisation"))
    age_days = (people["report_date"] - people["victim_date_of_birth"]).dt.total_days()
    child_share = (age_days < 18 * 365.25).mean()
    assert 0.06 < child_share < 0.15

    orgs = year.filter(pl.col("is_organisation"))
    assert orgs.height > 0
    assert orgs.select("victim_title", "victim_forename", "victim_date_of_birth").null_count().row(0) == (
        orgs.height, orgs.height, orgs.height)
    assert orgs["victim_surname"].str.contains(r" (Ltd|plc|& Co)$").all()

    da = year.filter(pl.col("is_domestic_abuse"))
    assert da["safe_to_contact"].sum() > 0 and (da["safe_to_contact"] == False).sum() > 0  # noqa: E712
    assert year.filter(~pl.col("is_domestic_abuse"))["safe_to_contact"].is_null().all()

    phone_null = year["victim_phone"].is_null().mean()
    assert 0.05 < phone_null < 0.11
    assert year["victim_phone"].is_in(["unknown", "n/a", "000"]).any()
    assert 0.01 < year["is_sensitive"].mean() < 0.04
    assert year["police_on_duty"].any() and year["is_deceased"].any()


def test_domestic_abuse_only_in_its_strands(year):
    catalogue = load_offence_catalogue().select("offence_code", "survey_strand")
    da_share = (year.join(catalogue, on="offence_code").filter(~pl.col("is_organisation"))
                .group_by("survey_strand").agg(pl.col("is_domestic_abuse").mean()))
    shares = {strand: share for strand, share in da_share.iter_rows()}
    assert shares["VIOLENCE"] == pytest.approx(0.35, abs=0.04)
    assert shares["HARASSMENT"] == pytest.approx(0.30, abs=0.05)
    assert shares["ASB"] == 0 and shares["BURGLARY"] == 0


def test_repeat_victims_keep_their_details(year):
    details = ["victim_title", "victim_forename", "victim_surname", "victim_date_of_birth",
               "victim_phone", "victim_ethnicity"]
    adults = year.filter(
        (pl.col("report_date") - pl.col("victim_date_of_birth")).dt.total_days() > 19 * 366)
    repeats = adults.filter(pl.col("victim_person_id").is_duplicated())
    assert repeats["victim_person_id"].n_unique() > 100
    variants = repeats.group_by("victim_person_id").agg(pl.struct(details).n_unique().alias("n"))
    assert (variants["n"] == 1).all()


def test_same_person_same_details_across_months(april):
    may = generate_month_frame(MAY, GeneratorSettings())
    cols = ["victim_person_id", "victim_forename", "victim_surname", "victim_date_of_birth",
            "victim_phone", "victim_ethnicity"]
    both = april.select(cols).unique().join(may.select(cols).unique(), on="victim_person_id",
                                            how="inner", suffix="_may", nulls_equal=True)
    assert both.height > 50
    for col in cols[1:]:
        assert both[col].eq_missing(both[f"{col}_may"]).all(), col


def test_phone_numbers_only_from_drama_ranges(year):
    phones = year["victim_phone"].drop_nulls()
    real = phones.filter(~phones.is_in(["unknown", "n/a", "000"]))
    bad = [p for p in real.unique().to_list() if not DRAMA_NUMBER.match(national_digits(p))]
    assert bad == []
    assert real.map_elements(national_digits, return_dtype=pl.String).str.starts_with("07").mean() > 0.65
    assert real.str.contains(r"^\+44").any() and real.str.contains(r"^\(0").any()
    assert real.str.contains(" ").any() and (~real.str.contains(" ")).any()


def test_scale_and_forces_split_volume(april):
    double = generate_month_frame(APRIL, GeneratorSettings(scale=2, forces=2))
    assert double.height == pytest.approx(2 * april.height, rel=0.08)
    assert sorted(double["force_code"].unique()) == ["F01", "F02"]
    per_force = double.group_by("force_code").len()["len"]
    assert per_force.min() == pytest.approx(april.height, rel=0.1)
    assert double["crime_reference"].str.starts_with(double["force_code"] + "/").all()
    assert double["victim_person_id"].str.starts_with(double["force_code"] + "-P").all()


def test_areas_come_from_settings_with_unequal_shares(april):
    custom = generate_month_frame(APRIL, GeneratorSettings(areas=("WEST", "EAST")))
    assert set(custom["policing_area"]) == {"WEST", "EAST"}
    shares = april["policing_area"].value_counts(normalize=True)
    assert shares["proportion"].max() - shares["proportion"].min() > 0.05
