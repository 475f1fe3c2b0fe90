"""Stand-in survey contractor: reads a hand-off CSV, writes a returns CSV.

Plays the outside party of domain.md section 5. It keeps only what it needs
(survey_id, survey_strand, contact window) and never reads names or phones
into its model.

Random draws for a row come from a hash of (seed, survey_id), so a row's
outcome and answers do not depend on the other rows or on file order.
Satisfaction uses one latent "how happy" score per respondent plus noise per
question, so questions correlate; each question's threshold makes its satisfied
share (codes 1-3 among 1-7) equal the target in expectation over a typical
strand mix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import polars as pl

from vsat_assets.contractor_sim.truth import Truth, expit, financial_year_start
from vsat_assets.vocabulary import INTERVIEWED_OUTCOMES, OUTCOMES, QUESTIONS

HANDOFF_COLUMNS = ("survey_id", "title", "forename", "surname", "phone_number",
                   "survey_strand", "report_date", "contact_from", "contact_until")
RETURNS_COLUMNS = ("survey_id", "outcome", "interview_date") + QUESTIONS
LAYOUT_VERSION = 1
HANDOFF_NAME = re.compile(r"^handoff_(\d{4}-\d{2})\.csv$")


class ManifestMismatch(ValueError):
    """The hand-off file does not match its manifest (or the manifest is missing/bad)."""


def _d(**kw: float) -> dict[str, float]:
    return dict(kw)


@dataclass(frozen=True)
class ContractorSettings:
    """Knobs of the stand-in. Who is satisfied and who responds come from ``truth``."""

    seed: int = 7
    truth: Truth = field(default_factory=Truth)
    # Shares of the outcomes other than COMPLETE (split in these proportions).
    outcome_shares: Mapping[str, float] = field(default_factory=lambda: _d(
        COMPLETE=0.50, REFUSED=0.15, OPT_OUT=0.03, NO_CONTACT=0.25, WRONG_NUMBER=0.07))
    # Share of a question's variance that is the respondent's general mood.
    latent_correlation: float = 0.5
    # Split of satisfied answers over codes 1,2,3 and dissatisfied over 4..7.
    satisfied_split: tuple[float, ...] = (0.35, 0.35, 0.30)
    dissatisfied_split: tuple[float, ...] = (0.35, 0.25, 0.20, 0.20)
    dont_know: Mapping[str, float] = field(default_factory=lambda: _d(
        ease_of_contact=0.02, actions_taken=0.03, kept_informed=0.03, treatment=0.02,
        whole_experience=0.02))
    not_applicable: Mapping[str, float] = field(default_factory=lambda: _d(
        ease_of_contact=0.01, actions_taken=0.05, kept_informed=0.05, treatment=0.005,
        whole_experience=0.002))


@dataclass(frozen=True)
class Profile:
    """What the harness knows of a victim from the records (never from the pipeline)."""

    area: str = ""
    age_band: str = ""
    ethnic_group: str = ""


# ------------------------------------------------------------- deterministic draws
_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _row_keys(seed: int, survey_ids: list[str]) -> np.ndarray:
    """One 64-bit key per row from BLAKE2b(seed, survey_id)."""
    prefix = f"{seed}\x1f".encode()
    return np.array(
        [int.from_bytes(hashlib.blake2b(prefix + s.encode(), digest_size=8).digest(), "little")
         for s in survey_ids], dtype=np.uint64)


def _uniform(keys: np.ndarray, stream: int) -> np.ndarray:
    """Uniform [0, 1) draws: SplitMix64 of key + (stream + 1) * gamma."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64(stream + 1) * _GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(keys: np.ndarray, stream: int) -> np.ndarray:
    """Standard normal draws (Box-Muller on streams `stream`, `stream + 1`)."""
    u1 = 1.0 - _uniform(keys, stream)
    u2 = _uniform(keys, stream + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26, error < 1.5e-7)."""
    t_in = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * t_in)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-t_in * t_in)
    return 0.5 * (1.0 + np.sign(x) * erf)


# Stream numbers: one per independent draw a row needs.
_S_OUTCOME, _S_DAY, _S_LATENT = 0, 1, 2          # latent uses 2 and 3
_S_QUESTION = 4                                  # 3 per question from here


# ------------------------------------------------------------------ the model
def draw_outcomes(keys: np.ndarray, strands, profile: dict[str, np.ndarray],
                  settings: ContractorSettings) -> np.ndarray:
    """Outcome per row: COMPLETE with the truth's response probability (profile and mood),
    otherwise one of the other outcomes in their usual proportions."""
    mood = _normal(keys, _S_LATENT)
    complete = settings.truth.response_probability(strands, profile["age_band"], profile["ethnic_group"], mood)
    others = [o for o in OUTCOMES if o != "COMPLETE"]
    other_shares = np.array([settings.outcome_shares[o] for o in others])
    cum = np.cumsum(other_shares) / other_shares.sum()
    u = _uniform(keys, _S_OUTCOME)
    # u < complete -> COMPLETE; otherwise rescale u over the remaining outcomes
    rescaled = (u - complete) / np.maximum(1.0 - complete, 1e-12)
    rest = np.minimum((rescaled[:, None] >= cum[None, :-1]).sum(axis=1), len(others) - 1)
    return np.where(u < complete, "COMPLETE", np.array(others)[rest])


def draw_answers(keys: np.ndarray, strands, profile: dict[str, np.ndarray], years,
                 settings: ContractorSettings) -> dict[str, np.ndarray]:
    """Answer code (1-9) per row and question, for every row (blanking is the caller's)."""
    rho = settings.latent_correlation
    latent = _normal(keys, _S_LATENT)
    sat_cum = np.cumsum(settings.satisfied_split)[:-1] / sum(settings.satisfied_split)
    dis_cum = np.cumsum(settings.dissatisfied_split)[:-1] / sum(settings.dissatisfied_split)
    answers = {}
    for i, q in enumerate(QUESTIONS):
        stream = _S_QUESTION + 3 * i
        logit = settings.truth.satisfaction_logit(
            q, strands, profile["area"], profile["age_band"], profile["ethnic_group"], years)
        p_satisfied = expit(logit)
        mood = math.sqrt(rho) * latent + math.sqrt(1 - rho) * _normal(keys, stream)
        rank = _norm_cdf(-mood)          # uniform; small = happiest
        cuts = np.column_stack(
            [p_satisfied[:, None] * sat_cum, p_satisfied[:, None],
             p_satisfied[:, None] + (1 - p_satisfied[:, None]) * dis_cum])
        code = 1 + (rank[:, None] >= cuts).sum(axis=1)
        u = _uniform(keys, stream + 2)
        n_a, d_k = settings.not_applicable[q], settings.dont_know[q]
        code = np.where(u < n_a, 9, np.where(u < n_a + d_k, 8, code))
        answers[q] = code.astype(np.int8)
    return answers


def profile_arrays(ids: list[str], profiles: Mapping[str, Profile] | None) -> dict[str, np.ndarray]:
    """Per-row area, age band and ethnic group ('' where the harness knows nothing)."""
    found = [(profiles or {}).get(i, Profile()) for i in ids]
    return {name: np.array([getattr(p, name) for p in found], dtype=object)
            for name in ("area", "age_band", "ethnic_group")}


# ------------------------------------------------------------------ files
def returns_path_for(handoff_csv: Path, inbox: Path) -> Path:
    return Path(inbox) / f"returns_{_month_of(Path(handoff_csv))}.csv"


def _month_of(handoff_csv: Path) -> str:
    m = HANDOFF_NAME.match(handoff_csv.name)
    if not m:
        raise ValueError(f"{handoff_csv.name}: not a hand-off file name (handoff_YYYY-MM.csv)")
    return m.group(1)


def verify_manifest(handoff_csv: Path) -> dict:
    """Check the manifest beside the hand-off; return it. Raises ManifestMismatch."""
    name = handoff_csv.name
    manifest_path = handoff_csv.with_name(handoff_csv.stem + ".manifest.json")
    if not manifest_path.exists():
        raise ManifestMismatch(f"{name}: manifest {manifest_path.name} not found")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestMismatch(f"{name}: manifest {manifest_path.name} is not valid JSON") from e
    expected = {"file": name, "layout_version": LAYOUT_VERSION, "month": _month_of(handoff_csv)}
    for key, value in expected.items():
        if manifest.get(key) != value:
            raise ManifestMismatch(
                f"{name}: manifest {key}={manifest.get(key)!r}, expected {value!r}")
    digest = hashlib.sha256(handoff_csv.read_bytes()).hexdigest()
    if str(manifest.get("sha256", "")).lower() != digest:
        raise ManifestMismatch(f"{name}: SHA-256 {digest} does not match manifest "
                               f"{manifest.get('sha256')!r}")
    return manifest


def read_handoff(handoff_csv: Path) -> pl.DataFrame:
    """The columns the model needs, after verifying manifest, layout and row count.

    Personal columns (title, names, phone) are dropped at once. One leading "'"
    (spreadsheet formula neutralisation) is stripped from every kept cell.
    """
    handoff_csv = Path(handoff_csv)
    manifest = verify_manifest(handoff_csv)
    frame = pl.read_csv(handoff_csv, infer_schema=False, encoding="utf8")
    if tuple(frame.columns) != HANDOFF_COLUMNS:
        raise ManifestMismatch(f"{handoff_csv.name}: columns {frame.columns} are not the "
                               f"hand-off layout {list(HANDOFF_COLUMNS)}")
    if frame.height != manifest.get("rows"):
        raise ManifestMismatch(f"{handoff_csv.name}: {frame.height} rows, manifest says "
                               f"{manifest.get('rows')!r}")
    keep = ["survey_id", "survey_strand", "report_date", "contact_from", "contact_until"]
    return frame.select(pl.col(keep).str.strip_prefix("'")).with_columns(
        pl.col("report_date", "contact_from", "contact_until").str.to_date("%Y-%m-%d"))


def simulate_frame(handoff: pl.DataFrame, settings: ContractorSettings = ContractorSettings(),
                   profiles: Mapping[str, Profile] | None = None) -> pl.DataFrame:
    """Returns rows (contract layout, answers Int8 with nulls) for a read hand-off.

    ``profiles`` (survey_id -> Profile) is what the simulation harness read from the
    records; the hand-off itself carries no area, age or ethnicity.
    """
    ids = handoff["survey_id"]
    keys = _row_keys(settings.seed, ids.to_list())
    strands = handoff["survey_strand"].fill_null("").to_numpy()
    profile = profile_arrays(ids.to_list(), profiles)
    years = np.array([financial_year_start(d) for d in handoff["report_date"].to_list()])
    outcome = draw_outcomes(keys, strands, profile, settings)
    answers = draw_answers(keys, strands, profile, years, settings)
    window = (handoff["contact_until"] - handoff["contact_from"]).dt.total_days().to_numpy()
    day = np.floor(_uniform(keys, _S_DAY) * (window + 1)).astype(np.int64)
    complete = pl.col("outcome") == "COMPLETE"
    return pl.DataFrame({
        "survey_id": ids, "outcome": outcome,
        "contact_from": handoff["contact_from"], "day": day, **answers,
    }).select(
        "survey_id", "outcome",
        pl.when(pl.col("outcome").is_in(INTERVIEWED_OUTCOMES))
          .then(pl.col("contact_from") + pl.duration(days=pl.col("day")))
          .alias("interview_date"),
        *[pl.when(complete).then(pl.col(q)).alias(q) for q in QUESTIONS],
    )


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        frame.write_csv(tmp, date_format="%Y-%m-%d")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def simulate_returns(handoff_csv: Path, inbox: Path,
                     settings: ContractorSettings = ContractorSettings(),
                     profiles: Mapping[str, Profile] | None = None) -> Path:
    """Write `<inbox>/returns_YYYY-MM.csv` for a hand-off file; return its path.

    `profiles` (survey_id -> Profile) comes from the simulation harness (see profiles.py);
    without it every victim has the typical profile's effects switched off.
    """
    handoff_csv = Path(handoff_csv)
    target = returns_path_for(handoff_csv, inbox)
    frame = simulate_frame(read_handoff(handoff_csv), settings, profiles)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(frame, target)
    return target
