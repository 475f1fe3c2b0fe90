"""Built-in synthetic generator of the records-system export (`raw.reports`).

Everything is vectorised with numpy and polars. Randomness for a (force, month)
comes from a numpy SeedSequence of (seed, year, month, force index), so any
month can be generated on its own. Person details are not random draws: they
are hashed from the person id, so a repeat victim looks the same every month.

All names and phone numbers are plainly fake: surnames are fictional words and every
number is 010 followed by eight digits. No UK dialling code begins 010 (geographic codes
begin 011, 01x1 or 01xyz with x from 2 to 9; 010 was the international prefix until 1995),
so none is a real subscriber's, while the platform's normalisation still reads them as
usable. Each person has a number of their own, drawn without replacement; a few per cent
share theirs with one other person of their household (docs/synthetic_phones.md).
"""

from __future__ import annotations

import calendar
import datetime
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterator

import numpy as np
import polars as pl

from vsat_assets.defs.raw_reports.schema import ETHNICITIES, REPORT_COLUMNS
from vsat_assets.vocabulary import GENERAL_STRANDS, POLICING_AREAS, RECORD_TYPES

# Durham-sized annual volumes at scale 1 (seed 003: ~48.5 victim-based crimes
# per 1,000 people, ~29,400 ASB incidents).
ANNUAL_CRIMES = 33_000
ANNUAL_ASB = 29_000
SECOND_VICTIM_SHARE = 0.03

# Strands of offences.csv (domestic abuse is a flag on these); index 0 is "out of scope" (empty there).
STRANDS = (None, *GENERAL_STRANDS)
_S = {name: i for i, name in enumerate(STRANDS)}
# Share of each strand's victims who are children (None: offences outside every strand).
_CHILD_SHARE = {None: 0.08, "BURGLARY": 0.02, "VEHICLE": 0.01, "VIOLENCE": 0.17, "CRIMINAL_DAMAGE": 0.04,
                "HARASSMENT": 0.10, "FRAUD": 0.01, "HATE": 0.10, "ASB": 0.13}
_CHILD_P = np.array([_CHILD_SHARE[s] for s in STRANDS])
_DA_P = np.zeros(len(STRANDS))
_DA_P[[_S["VIOLENCE"], _S["HARASSMENT"], _S["CRIMINAL_DAMAGE"]]] = [0.35, 0.30, 0.10]

FORENAMES_MALE = ("James", "Oliver", "Harry", "Jack", "George", "Noah", "Leo", "Arthur",
                  "Thomas", "Daniel", "Michael", "David", "Paul", "Mark", "Peter", "Adam")
FORENAMES_FEMALE = ("Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily",
                    "Sarah", "Emma", "Laura", "Helen", "Karen", "Julie", "Susan", "Anne")
SURNAMES = ("Testington", "Placeholder", "Sampleton", "Exampleby", "Dummyworth",
            "Mockridge", "Fakenham-Smythe", "Specimenson", "Trialworth", "Prototypeson",
            "Fictionby", "Madeupson", "Notrealton", "Pretendale", "Imaginary",
            "Synthetica", "Testwick", "Demoford", "Stubbington", "Fixtureson",
            "Fixturedale", "Samplewood", "Dummerton", "Fauxley")
ORG_PREFIXES = ("Example", "Sample", "Placeholder", "Fictional", "Testing", "Demo")
ORG_TRADES = ("Trading", "Retail", "Stores", "Motors", "Bakery", "Hardware",
              "Logistics", "Services", "Pharmacy", "Garden Centre", "Builders", "Foods")
ORG_SUFFIXES = ("Ltd", "plc", "& Co")
_MALE_TITLES, _MALE_TITLE_P = ("Mr", "Dr", "Mx"), (0.95, 0.04, 0.01)
_FEMALE_TITLES, _FEMALE_TITLE_P = ("Mrs", "Ms", "Miss", "Dr", "Mx"), (0.45, 0.30, 0.19, 0.05, 0.01)
_TITLES = _MALE_TITLES + _FEMALE_TITLES
_FORENAMES = FORENAMES_MALE + FORENAMES_FEMALE
JUNK_PHONES = ("unknown", "n/a", "000")

# Phone numbers: '010' + 8 digits, formats spaced, run-together, +44 spaced, +44 run-together,
# (bracketed). Persons in pairs (person_num, person_num ^ 1) of one cohort share one number
# when their pair is a household; about that share of people share their number.
PHONE_SPACE = 10**8
HOUSEHOLD_SHARE = 0.04
_PHONE_STYLE_P = (0.45, 0.25, 0.12, 0.08, 0.10)
# Birth cohorts get number slots modulo this many years (victims are 5 to 97 years old), and
# one more slot holds organisations; a force's slots are consecutive.
_COHORT_SLOTS = 116
_COHORT_SLOT_BASE = 1915
_PHONE_MULTIPLIER = 61_803_399  # odd and not a multiple of 5: a bijection modulo 10**8


@dataclass(frozen=True)
class GeneratorSettings:
    seed: int = 20190401
    scale: float = 1.0      # volume multiplier: 1.0 = Durham, 100 = England & Wales
    forces: int = 1         # forces the volume is split across; 1 -> force_code, n>1 -> 'F01'..
    areas: tuple[str, ...] = POLICING_AREAS
    force_code: str = "DUR"  # with forces=1: the force of the register generated (its own seed stream)

    def __post_init__(self):
        if self.seed < 0 or self.forces < 1 or self.scale < 0 or not self.areas:
            raise ValueError("need seed >= 0, forces >= 1, scale >= 0 and at least one area")


def load_offence_catalogue() -> pl.DataFrame:
    """The offence catalogue (offences.csv next to this module)."""
    return _read_catalogue().clone()


@lru_cache(maxsize=1)
def _read_catalogue() -> pl.DataFrame:
    path = resources.files("vsat_assets.defs.raw_reports").joinpath("offences.csv")
    with path.open("rb") as handle:
        catalogue = pl.read_csv(handle, schema={
            "offence_code": pl.String, "offence_description": pl.String,
            "record_type": pl.String, "survey_strand": pl.String,
            "share": pl.Float64, "organisation_share": pl.Float64,
        })
    check_catalogue_codes(catalogue, "vsat_assets/defs/raw_reports/offences.csv")
    return catalogue


def check_catalogue_codes(catalogue: pl.DataFrame, source: str) -> None:
    """ValueError naming the line and column of the first strand or record type the vocabulary does not know
    (an empty strand means the offence is not surveyed)."""
    for column, known in (("survey_strand", GENERAL_STRANDS), ("record_type", RECORD_TYPES)):
        unknown = (catalogue.with_row_index("line", offset=2)
                   .filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(known)))
        if unknown.height:
            raise ValueError(f"{source}, line {unknown['line'][0]}, column {column}: "
                             f"{unknown[column][0]!r} is not one of {', '.join(known)}")


def force_codes(settings: GeneratorSettings) -> list[str]:
    if settings.forces == 1:
        return [settings.force_code]
    width = max(2, len(str(settings.forces)))
    return [f"F{i:0{width}d}" for i in range(1, settings.forces + 1)]


def register_force_index(code: str) -> int:
    """The seed stream of a register force generated alone: Durham keeps stream 0 (the demo's data),
    every other force its register position + 1, so no two forces share a stream."""
    from vsat_assets.register import force

    return 0 if code == "DUR" else force(code).index + 1


def generate_month(month_start: datetime.date, settings: GeneratorSettings) -> Iterator[pl.DataFrame]:
    """Yield the month's reports, one DataFrame per force, in REPORT_COLUMNS layout."""
    month_start = month_start.replace(day=1)
    catalogue = load_offence_catalogue()
    if settings.forces == 1:
        index = register_force_index(settings.force_code)
        yield _force_month(month_start, settings, index, settings.force_code, catalogue)
        return
    for force_index, code in enumerate(force_codes(settings)):
        yield _force_month(month_start, settings, force_index, code, catalogue)


def generate_month_frame(month_start: datetime.date, settings: GeneratorSettings) -> pl.DataFrame:
    """The whole month in one frame (forces concatenated in order); for tests and small runs."""
    return pl.concat(list(generate_month(month_start, settings)), how="vertical")


# --- hashing: person attributes as pure functions of the person id ----------

_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic is intended)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _force_key(seed: int, force_index: int) -> np.uint64:
    raw = np.array([(seed * _GOLDEN + force_index) & _MASK], dtype=np.uint64)
    return _mix(_mix(raw))[0]


class _PersonHash:
    """Uniform [0, 1) fields keyed by person id; each 64-bit hash yields three 21-bit fields."""

    def __init__(self, key: np.uint64, person_num: np.ndarray):
        self._base = _mix(person_num.astype(np.uint64) ^ key)
        self._words: dict[int, np.ndarray] = {}

    def uniform(self, field: int) -> np.ndarray:
        word, part = divmod(field, 3)
        if word not in self._words:
            with np.errstate(over="ignore"):
                self._words[word] = _mix(self._base + np.uint64(((word + 1) * _GOLDEN) & _MASK))
        bits = (self._words[word] >> np.uint64(21 * part)) & np.uint64(0x1FFFFF)
        return bits.astype(np.float64) * 2.0**-21

    def index(self, field: int, n: int) -> np.ndarray:
        return np.minimum((self.uniform(field) * n).astype(np.int64), n - 1)


# --- sampling helpers --------------------------------------------------------

def _power_index(u: np.ndarray, size: int, exponent: float) -> np.ndarray:
    """Inverse-CDF draw of a 0-based rank with weight ~ rank**-exponent (Zipf-like)."""
    top = (size + 1) ** (1 - exponent)
    x = ((top - 1) * u + 1) ** (1 / (1 - exponent))
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, size - 1)


def _area_weights(n: int) -> np.ndarray:
    w = 1 / (1 + 0.15 * np.arange(n))
    return w / w.sum()


@lru_cache(maxsize=3)
def _digit_table(width: int) -> pl.Series:
    return pl.Series([f"{i:0{width}d}" for i in range(10**width)], dtype=pl.String)


def _zero_padded(column: str, width: int) -> pl.Expr:
    """Integer column as a zero-padded string, built from 3-digit lookups (str.zfill is slow)."""
    parts = []
    for low in range(0, width, 3):
        digits = min(3, width - low)
        chunk = (pl.col(column) // 10**low) % 10**digits
        parts.append(pl.lit(_digit_table(digits)).gather(chunk))
    return pl.concat_str(parts[::-1])


@lru_cache(maxsize=1)
def _org_names() -> tuple[str, ...]:
    return tuple(f"{p} {t} {s}" for p in ORG_PREFIXES for t in ORG_TRADES for s in ORG_SUFFIXES)


@dataclass(frozen=True)
class _Pools:
    """Sizes of the per-force person pools, scaled to the force's volume."""
    general: int   # people per birth-year cohort seen about once
    repeat: int    # repeat victims per cohort, drawn Zipf-like
    orgs: int      # organisations, drawn Zipf-like
    cohort_stride: int  # person_num = cohort * stride + index

    @classmethod
    def for_volume(cls, annual_rows: float) -> "_Pools":
        per_cohort = annual_rows / 80
        general = max(1000, int(10 * per_cohort))
        repeat = max(20, int(per_cohort / 2))
        stride = 10 ** max(5, len(str(general + repeat)))
        return cls(general, repeat, max(100, int(annual_rows / 20)), stride)


_FIRST_COHORT = 1880
_ORG_COHORT = 900  # cohort slot holding organisations, far beyond any birth year


def _force_month(month_start: datetime.date, settings: GeneratorSettings, force_index: int,
                 force_code: str, catalogue: pl.DataFrame) -> pl.DataFrame:
    year, month = month_start.year, month_start.month
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, year, month, force_index]))
    per_force = settings.scale / settings.forces
    season = math.cos(2 * math.pi * (month - 7) / 12)  # peaks in July, averages 0 over a year
    n_crime = int(rng.poisson(ANNUAL_CRIMES * per_force / 12 * (1 + 0.06 * season)))
    n_asb = int(rng.poisson(ANNUAL_ASB * per_force / 12 * (1 + 0.20 * season)))
    days_in_month = calendar.monthrange(year, month)[1]

    # Incidents: offence, day, sequence number in date order, per record type.
    record_types = catalogue["record_type"].to_numpy()
    shares = catalogue["share"].to_numpy()
    offence, day, seq, is_crime = [], [], [], []
    for rtype, n in (("CRIME", n_crime), ("ASB", n_asb)):
        idx = np.flatnonzero(record_types == rtype)
        cum = np.cumsum(shares[idx])
        pick = np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"), len(idx) - 1)
        offence.append(idx[pick])
        day.append(np.sort(rng.integers(0, days_in_month, n)))
        seq.append(np.arange(1, n + 1))
        is_crime.append(np.full(n, rtype == "CRIME"))
    offence, day, seq, is_crime = (np.concatenate(a) for a in (offence, day, seq, is_crime))

    # About 3% of crimes get a second victim: same reference, next row.
    counts = 1 + (is_crime & (rng.random(len(offence)) < SECOND_VICTIM_SHARE))
    offence, day, seq, is_crime = (np.repeat(a, counts) for a in (offence, day, seq, is_crime))
    n = len(offence)
    second = np.zeros(n, dtype=bool)
    second[(np.cumsum(counts) - 1)[counts == 2]] = True

    strand_code = np.array([_S[s] for s in catalogue["survey_strand"].to_list()])[offence]
    org_share = catalogue["organisation_share"].to_numpy()[offence]
    is_org = ~second & (rng.random(n) < org_share)
    person = ~is_org
    police = person & (strand_code == _S["VIOLENCE"]) & (rng.random(n) < 0.02)
    domestic = person & ~police & (rng.random(n) < _DA_P[strand_code])
    child = person & ~police & ~domestic & (rng.random(n) < _CHILD_P[strand_code])
    burglary = strand_code == _S["BURGLARY"]

    adult_age = 18 + np.floor(np.where(burglary, rng.beta(2.0, 2.2, n), rng.beta(1.5, 3.3, n)) * 78)
    child_age = 5 + np.floor(rng.beta(3.0, 1.5, n) * 13)
    age = np.where(child, child_age, adult_age).astype(np.int64)
    # Children born in (year - age) are at most `age` at report; adults one year
    # earlier so they are at least `age` (>= 18).
    birth_year = year - age - (~child)

    pools = _Pools.for_volume((ANNUAL_CRIMES + ANNUAL_ASB) * per_force)
    repeat = rng.random(n) < 0.25
    index = np.where(repeat, _power_index(rng.random(n), pools.repeat, 0.7),
                     pools.repeat + rng.integers(0, pools.general, n))
    person_num = (birth_year - _FIRST_COHORT) * pools.cohort_stride + index
    org_num = _ORG_COHORT * pools.cohort_stride + _power_index(rng.random(n), pools.orgs, 0.9)
    person_num = np.where(is_org, org_num, person_num)
    # A second victim must be someone else than the first victim of that crime.
    clash = second & (person_num == np.roll(person_num, 1))
    person_num[clash] += 1

    sensitive = rng.random(n) < np.where(burglary & (age > 75) & person, 0.30, 0.02)
    deceased = person & (rng.random(n) < 0.002)
    safe_u = rng.random(n)
    area = np.searchsorted(np.cumsum(_area_weights(len(settings.areas))), rng.random(n), side="right")
    area = np.minimum(area, len(settings.areas) - 1)

    people = _person_details(_force_key(settings.seed, force_index), person_num,
                             pools.cohort_stride, month_start, day)
    people["phone"] = phone_numbers(settings.seed, force_index, person_num, pools).astype(np.int64)
    month_label = f"{year:04d}-{month:02d}"
    frame = pl.DataFrame({
        "seq": seq, "is_crime": is_crime, "day": day, "offence": offence, "area": area,
        "person_num": person_num, **people, "is_organisation": is_org, "police_on_duty": police,
        "is_deceased": deceased, "is_sensitive": sensitive, "is_domestic_abuse": domestic,
        "safe_u": safe_u,
    })
    width = max(8, len(str(int(person_num.max()))) if n else 8)
    person = ~pl.col("is_organisation")

    def lookup(values, index_column: str) -> pl.Expr:
        return pl.lit(pl.Series(values, dtype=pl.String)).gather(pl.col(index_column))

    return frame.select(
        pl.lit(force_code).alias("force_code"),
        pl.concat_str(
            pl.when(pl.col("is_crime")).then(pl.lit(f"{force_code}/C/{month_label}/"))
            .otherwise(pl.lit(f"{force_code}/A/{month_label}/")),
            _zero_padded("seq", max(6, len(str(int(seq.max())))) if n else 6),
        ).alias("crime_reference"),
        (pl.lit(month_start) + pl.duration(days=pl.col("day"))).cast(pl.Date).alias("report_date"),
        lookup(catalogue["record_type"], "offence").alias("record_type"),
        lookup(catalogue["offence_code"], "offence").alias("offence_code"),
        lookup(catalogue["offence_description"], "offence").alias("offence_description"),
        lookup(settings.areas, "area").alias("policing_area"),
        (pl.lit(f"{force_code}-P") + _zero_padded("person_num", width))
        .alias("victim_person_id"),
        pl.when(person & ~pl.col("under_18")).then(lookup(_TITLES, "title")).alias("victim_title"),
        pl.when(person).then(lookup(_FORENAMES, "forename")).alias("victim_forename"),
        pl.when(person).then(lookup(SURNAMES, "surname"))
        .otherwise(lookup(_org_names(), "org_name")).alias("victim_surname"),
        pl.when(person).then(pl.col("dob")).alias("victim_date_of_birth"),
        pl.when(pl.col("phone_u") < 0.08).then(None)
        .when(pl.col("phone_u") < 0.09).then(lookup(JUNK_PHONES, "junk"))
        .otherwise(_phone_text("phone", "phone_style")).alias("victim_phone"),
        pl.when(person).then(lookup(ETHNICITIES, "ethnicity")).alias("victim_ethnicity"),
        "is_organisation", "police_on_duty", "is_deceased", "is_sensitive", "is_domestic_abuse",
        pl.when(~pl.col("is_domestic_abuse")).then(None)
        .when(pl.col("safe_u") < 0.6).then(True)
        .when(pl.col("safe_u") < 0.9).then(False)
        .otherwise(None).alias("safe_to_contact"),
    ).cast(REPORT_COLUMNS)


def _person_details(key: np.uint64, person_num: np.ndarray, stride: int,
                    month_start: datetime.date, day: np.ndarray) -> dict[str, np.ndarray]:
    """Lookup indices, date of birth and phone choice, all hashed from the person id."""
    h = _PersonHash(key, person_num)
    birth_year = person_num // stride + _FIRST_COHORT
    dob = ((birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
           + h.index(1, 365).astype("timedelta64[D]"))
    report = np.datetime64(month_start, "D") + day.astype("timedelta64[D]")
    # Children carry no title; 365.25-day years are close enough for that.
    under_18 = (report - dob).astype(np.int64) < 18 * 365.25

    female = h.uniform(2) < 0.52
    n_male = len(FORENAMES_MALE)
    forename = np.where(female, n_male + h.index(3, len(FORENAMES_FEMALE)), h.index(3, n_male))
    title = np.where(
        female,
        len(_MALE_TITLES) + np.searchsorted(np.cumsum(_FEMALE_TITLE_P)[:-1], h.uniform(4), side="right"),
        np.searchsorted(np.cumsum(_MALE_TITLE_P)[:-1], h.uniform(4), side="right"))
    ethnicity = np.searchsorted(np.cumsum([0.88, 0.02, 0.035, 0.01, 0.01]), h.uniform(9), side="right")

    style = np.searchsorted(np.cumsum(_PHONE_STYLE_P)[:-1], h.uniform(12), side="right")
    return {
        "title": title, "forename": forename, "surname": h.index(5, len(SURNAMES)),
        "org_name": h.index(6, len(_org_names())), "dob": dob, "under_18": under_18,
        "ethnicity": ethnicity,
        "phone_style": style,
        "phone_u": h.uniform(14), "junk": h.index(15, len(JUNK_PHONES)),
    }


# --- phone numbers -------------------------------------------------------------

def phone_numbers(seed: int, force_index: int, person_num: np.ndarray, pools: _Pools) -> np.ndarray:
    """The 8 digits after '010' of each person's number: distinct per person (and force) up to
    PHONE_SPACE people, except that the two people of a household pair share one.

    A person's slot (force, birth cohort modulo _COHORT_SLOTS, index in the cohort) is numbered
    densely and scrambled by an affine bijection modulo PHONE_SPACE, so distinct slots get
    distinct numbers while the force's slots fit (national scale: about 95 million of 100).
    """
    person_num = person_num.astype(np.int64)
    cohort, index = np.divmod(person_num, pools.cohort_stride)
    is_org = cohort == _ORG_COHORT
    key = _force_key(seed, force_index)
    pair_u = (_mix((person_num >> 1).astype(np.uint64) ^ key ^ np.uint64(0x5EED_F00D)) >> np.uint64(43))
    household = ~is_org & (pair_u.astype(np.float64) * 2.0**-21 < HOUSEHOLD_SHARE)
    index = np.where(household, index & ~1, index)
    per_slot = max(pools.general + pools.repeat, pools.orgs) + 1
    slot = np.where(is_org, _COHORT_SLOTS, (cohort + _FIRST_COHORT - _COHORT_SLOT_BASE) % _COHORT_SLOTS)
    code = ((force_index * (_COHORT_SLOTS + 1) + slot) * per_slot + index) % PHONE_SPACE
    offset = int(_mix(np.array([seed], dtype=np.uint64))[0] % np.uint64(PHONE_SPACE))
    return (code.astype(np.uint64) * np.uint64(_PHONE_MULTIPLIER) + np.uint64(offset)) % np.uint64(PHONE_SPACE)


def phone_slots(settings: GeneratorSettings) -> int:
    """How many distinct numbers the settings' forces can use; numbers are distinct when it is at
    most PHONE_SPACE (about 105 x Durham's volume however it is split into forces)."""
    pools = _Pools.for_volume((ANNUAL_CRIMES + ANNUAL_ASB) * settings.scale / settings.forces)
    return settings.forces * (_COHORT_SLOTS + 1) * (max(pools.general + pools.repeat, pools.orgs) + 1)


def _phone_text(number_column: str, style_column: str) -> pl.Expr:
    """'010' + the number's 8 digits, typed in one of five styles."""
    digits = _zero_padded(number_column, 8)
    spaced = digits.str.slice(0, 4) + pl.lit(" ") + digits.str.slice(4, 4)
    style = pl.col(style_column)
    return (pl.when(style == 0).then(pl.lit("010 ") + spaced)
            .when(style == 1).then(pl.lit("010") + digits)
            .when(style == 2).then(pl.lit("+44 10 ") + spaced)
            .when(style == 3).then(pl.lit("+4410") + digits)
            .otherwise(pl.lit("(010) ") + spaced))
