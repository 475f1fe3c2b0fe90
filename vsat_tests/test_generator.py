"""Tests of the built-in synthetic report generator and its offence catalogue."""

import datetime
import re

import numpy as np
import polars as pl
import pytest

from vsat_assets.defs.raw_reports.generator import (
    ANNUAL_ASB,
    ANNUAL_CRIMES,
    PHONE_SPACE,
    GeneratorSettings,
    _FIRST_COHORT,
    _ORG_COHORT,
    _Pools,
    generate_month,
    generate_month_frame,
    load_offence_catalogue,
    phone_numbers,
    phone_slots,
)
from vsat_assets.defs.raw_reports.schema import ETHNICITIES, REPORT_COLUMNS
from vsat_assets.privacy import normalise_uk_phone

APRIL = datetime.date(2023, 4, 1)
MAY = datetime.date(2023, 5, 1)
STRANDS = {"BURGLARY", "VEHICLE", "VIOLENCE", "CRIMINAL_DAMAGE", "HARASSMENT", "FRAUD", "HATE", "ASB"}

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


def test_phone_numbers_only_in_the_unallocated_010_range(year):
    phones = year["victim_phone"].drop_nulls()
    real = phones.filter(~phones.is_in(["unknown", "n/a", "000"]))
    digits = real.map_elements(national_digits, return_dtype=pl.String)
    assert digits.str.contains(r"^010[0-9]{8}$").all()
    normalised = real.map_elements(normalise_uk_phone, return_dtype=pl.String)
    assert normalised.eq(digits).all()  # every format typed is usable to the platform
    assert real.str.contains(r"^\+44").any() and real.str.contains(r"^\(0").any()
    assert real.str.contains(" ").any() and (~real.str.contains(" ")).any()


def pool_numbers(settings: GeneratorSettings, force_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Every person number a force's pools can hold (birth years 1915-2030, and organisations),
    and their phone numbers."""
    pools = _Pools.for_volume((ANNUAL_CRIMES + ANNUAL_ASB) * settings.scale / settings.forces)
    index = np.arange(pools.general + pools.repeat)
    cohorts = np.arange(1915 - _FIRST_COHORT, 2031 - _FIRST_COHORT)
    people = (cohorts[:, None] * pools.cohort_stride + index[None, :]).ravel()
    orgs = _ORG_COHORT * pools.cohort_stride + np.arange(pools.orgs)
    person_num = np.concatenate([people, orgs])
    return person_num, phone_numbers(settings.seed, force_index, person_num, pools)


def sharing_share(numbers: np.ndarray) -> tuple[float, int, int]:
    """Share of people whose number someone else also has, whether three or more people share one,
    and how many distinct numbers there are."""
    ordered = np.sort(numbers)
    same_as_next = ordered[1:] == ordered[:-1]
    shared = np.zeros(len(ordered), dtype=bool)
    shared[1:] |= same_as_next
    shared[:-1] |= same_as_next
    return float(shared.mean()), bool((ordered[2:] == ordered[:-2]).any()), len(ordered) - int(same_as_next.sum())


def test_a_few_per_cent_of_people_share_a_number_at_durham(year):
    person_num, numbers = pool_numbers(GeneratorSettings(), 0)
    share, three_or_more, _ = sharing_share(numbers)
    assert 0.02 < share < 0.06 and not three_or_more  # households of two, nothing like 48 on one number
    # Victims: the share of them whose number another person has (in the population) ...
    victims = year.filter(~pl.col("is_organisation") & pl.col("victim_phone").is_not_null()
                          & ~pl.col("victim_phone").is_in(["unknown", "n/a", "000"]))
    victim_num = victims["victim_person_id"].str.slice(5).cast(pl.Int64).unique().to_numpy()
    _, inverse, counts = np.unique(numbers, return_inverse=True, return_counts=True)
    shared = counts[inverse][np.searchsorted(person_num, victim_num)] > 1
    assert 0.02 < shared.mean() < 0.06
    # ... and whose number another victim of the same year has: the opt-out register's false matches.
    by_number = (victims.select("victim_person_id", pl.col("victim_phone").map_elements(
        normalise_uk_phone, return_dtype=pl.String).alias("number")).unique()
        .with_columns(pl.col("victim_person_id").n_unique().over("number").alias("holders")))
    assert 0 < (by_number["holders"] > 1).mean() < 0.02


def test_numbers_distinct_at_national_scale():
    national = GeneratorSettings(scale=100, forces=43)
    assert phone_slots(national) <= PHONE_SPACE
    # Two forces' whole pools (4.4 million people): the first and the last.
    pooled = np.concatenate([pool_numbers(national, f)[1] for f in (0, 42)])
    share, three_or_more, distinct = sharing_share(pooled)
    assert 0.02 < share < 0.06 and not three_or_more
    assert distinct == len(pooled) - round(share * len(pooled) / 2) > 4_000_000
    # A national month's victims (all 43 forces): distinct people, distinct numbers but households.
    digits = pl.col("victim_phone").str.replace_all(r"[^0-9]", "")
    month = generate_month_frame(APRIL, national).filter(
        ~pl.col("is_organisation") & digits.str.contains(r"^(010|4410)"))
    people = month.select("victim_person_id", digits.str.slice(-8).alias("number")).unique("victim_person_id")
    holders = people.group_by("number").len()["len"]
    assert people.height > 250_000 and holders.max() <= 2
    assert (holders > 1).sum() / people.height < 0.02


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
