"""The contractor stand-in: file contract, determinism, calibration, CLI."""

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from vsat_assets.contractor_sim import (
    HANDOFF_COLUMNS,
    OUTCOMES,
    QUESTIONS,
    RETURNS_COLUMNS,
    ContractorSettings,
    ManifestMismatch,
    Profile,
    simulate_returns,
)
from vsat_assets.contractor_sim.__main__ import main

NAME, PHONE = "Testy Example", "07700900123"
TARGETS = ContractorSettings().truth.satisfaction_targets
TYPICAL_MIX = ContractorSettings().truth.typical_strand_mix
AREAS = ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")


def typical_strands(n: int) -> list[str]:
    """Exactly proportional strand list for the typical mix, in a shuffled order."""
    names = list(TYPICAL_MIX)
    shares = np.array([TYPICAL_MIX[s] for s in names]) / sum(TYPICAL_MIX.values())
    counts = np.floor(shares * n).astype(int)
    counts[0] += n - counts.sum()
    strands = np.repeat(names, counts)
    return list(np.random.default_rng(0).permutation(strands))


def write_handoff(outbox: Path, month: str, strands: list[str], id_prefix: str = "S") -> Path:
    """A plainly fake hand-off file plus a correct manifest."""
    outbox.mkdir(parents=True, exist_ok=True)
    n = len(strands)
    first = date(int(month[:4]), int(month[5:]), 1)
    report = [first + timedelta(days=i % 28) for i in range(n)]
    frame = pl.DataFrame({
        "survey_id": [f"{id_prefix}{hashlib.md5(f'{month}-{i}'.encode()).hexdigest()}"
                      for i in range(n)],
        "title": ["Mx"] * n,
        "forename": ["Testy"] * n,
        "surname": ["Example"] * n,
        "phone_number": [PHONE] * n,
        "survey_strand": strands,
        "report_date": report,
        "contact_from": [d + timedelta(days=56) for d in report],
        "contact_until": [d + timedelta(days=84) for d in report],
    }).select(HANDOFF_COLUMNS)
    path = outbox / f"handoff_{month}.csv"
    frame.write_csv(path, date_format="%Y-%m-%d")
    manifest = {"file": path.name, "rows": n, "layout_version": 1, "month": month,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_name(f"handoff_{month}.manifest.json").write_text(json.dumps(manifest))
    return path


def read_returns(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def satisfied_pct(codes: pl.Series) -> float:
    valid = codes.cast(pl.Int64).filter(codes.cast(pl.Int64) <= 7)
    return 100 * float((valid <= 3).mean())


@pytest.fixture(scope="module")
def big_returns(tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(hand-off, returns) for 20,000 rows of the typical strand mix, with areas."""
    outbox = tmp_path_factory.mktemp("outbox")
    handoff = write_handoff(outbox, "2023-01", typical_strands(20_000))
    sent = pl.read_csv(handoff, infer_schema=False)
    ids = sent["survey_id"].to_list()
    profiles = {sid: Profile(area=AREAS[i % 4]) for i, sid in enumerate(ids)}
    returns = simulate_returns(handoff, outbox / "inbox", profiles=profiles)
    return sent, read_returns(returns)


# ----------------------------------------------------------------- file contract
def test_columns_and_rows_match_contract(tmp_path):
    handoff = write_handoff(tmp_path / "out", "2023-02", ["ASB", "BURGLARY", "VIOLENCE"] * 50)
    path = simulate_returns(handoff, tmp_path / "in")
    assert path == tmp_path / "in" / "returns_2023-02.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(RETURNS_COLUMNS)
    returns = read_returns(path)
    sent = pl.read_csv(handoff, infer_schema=False)
    assert returns.height == sent.height
    assert returns["survey_id"].to_list() == sent["survey_id"].to_list()
    assert not list(tmp_path.glob("in/.*"))  # no temp file left behind


def test_blanks_and_interview_dates_follow_contract(big_returns):
    sent, returns = big_returns
    joined = returns.join(sent.select("survey_id", "contact_from", "contact_until"), on="survey_id")
    assert set(returns["outcome"].unique()) == set(OUTCOMES)
    complete = joined.filter(pl.col("outcome") == "COMPLETE")
    other = joined.filter(pl.col("outcome") != "COMPLETE")
    for q in QUESTIONS:
        assert complete[q].null_count() == 0
        assert set(complete[q].cast(pl.Int64).unique()) <= set(range(1, 10))
        assert other[q].null_count() == other.height
    interviewed = joined.filter(pl.col("outcome").is_in(["COMPLETE", "REFUSED", "OPT_OUT"]))
    assert interviewed["interview_date"].null_count() == 0
    assert (interviewed["interview_date"] >= interviewed["contact_from"]).all()
    assert (interviewed["interview_date"] <= interviewed["contact_until"]).all()
    never = joined.filter(pl.col("outcome").is_in(["NO_CONTACT", "WRONG_NUMBER"]))
    assert never["interview_date"].null_count() == never.height


def test_quote_prefixed_cells_are_read(tmp_path):
    strands = ["ASB", "BURGLARY"] * 200
    plain = simulate_returns(write_handoff(tmp_path / "plain", "2023-03", strands), tmp_path / "a")
    handoff = write_handoff(tmp_path / "out", "2023-03", strands)
    text = handoff.read_text().replace(",Testy,", ",'=Testy,").replace(",ASB,", ",'ASB,")
    handoff.write_text(text)
    manifest = handoff.with_name("handoff_2023-03.manifest.json")
    data = json.loads(manifest.read_text())
    data["sha256"] = hashlib.sha256(handoff.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data))
    quoted = simulate_returns(handoff, tmp_path / "b")
    assert quoted.read_bytes() == plain.read_bytes()  # "'ASB" is read as ASB


def test_empty_handoff_gives_header_only(tmp_path):
    handoff = write_handoff(tmp_path / "out", "2023-04", [])
    path = simulate_returns(handoff, tmp_path / "in")
    assert path.read_text().strip() == ",".join(RETURNS_COLUMNS)


# ----------------------------------------------------------------- determinism
def test_rerun_gives_identical_file_and_rows_do_not_depend_on_neighbours(tmp_path):
    strands = ["ASB", "HARASSMENT", "VEHICLE", "FRAUD"] * 100
    handoff = write_handoff(tmp_path / "out", "2023-05", strands)
    first = simulate_returns(handoff, tmp_path / "a").read_bytes()
    second = simulate_returns(handoff, tmp_path / "b").read_bytes()
    assert first == second
    other_seed = simulate_returns(handoff, tmp_path / "c", ContractorSettings(seed=8)).read_bytes()
    assert other_seed != first

    # A row's result depends only on (seed, survey_id): reversing the file changes nothing.
    sent = pl.read_csv(handoff, infer_schema=False).reverse()
    reversed_dir = tmp_path / "rev"
    reversed_dir.mkdir()
    rev = reversed_dir / "handoff_2023-05.csv"
    sent.write_csv(rev)
    rev.with_name("handoff_2023-05.manifest.json").write_text(json.dumps(
        {"file": rev.name, "rows": sent.height, "layout_version": 1, "month": "2023-05",
         "sha256": hashlib.sha256(rev.read_bytes()).hexdigest()}))
    a = read_returns(tmp_path / "a" / "returns_2023-05.csv").sort("survey_id")
    b = read_returns(simulate_returns(rev, tmp_path / "d")).sort("survey_id")
    assert a.equals(b)


# ----------------------------------------------------------------- manifest
@pytest.mark.parametrize("tamper", ["row_count", "sha256", "edited_file", "missing"])
def test_manifest_mismatch_raises_naming_file(tmp_path, tamper):
    handoff = write_handoff(tmp_path / "out", "2023-06", ["ASB"] * 10)
    manifest = handoff.with_name("handoff_2023-06.manifest.json")
    data = json.loads(manifest.read_text())
    if tamper == "row_count":
        data["rows"] = 11
        manifest.write_text(json.dumps(data))
    elif tamper == "sha256":
        data["sha256"] = "0" * 64
        manifest.write_text(json.dumps(data))
    elif tamper == "edited_file":
        handoff.write_text(handoff.read_text() + "Sextra,Mx,Testy,Example,07700900123,ASB,"
                           "2023-01-01,2023-02-26,2023-03-26\n")
    else:
        manifest.unlink()
    with pytest.raises(ManifestMismatch, match="handoff_2023-06.csv"):
        simulate_returns(handoff, tmp_path / "in")
    assert not (tmp_path / "in" / "returns_2023-06.csv").exists()


# ----------------------------------------------------------------- calibration
def test_satisfaction_meets_targets_over_typical_mix(big_returns):
    _, returns = big_returns
    complete = returns.filter(pl.col("outcome") == "COMPLETE")
    for q in QUESTIONS:
        # respondents run up to 2 points above the targets: happier victims answer more often
        assert satisfied_pct(complete[q]) == pytest.approx(100 * TARGETS[q], abs=2.0), q


def test_outcome_shares_are_about_right(big_returns):
    _, returns = big_returns
    expected = {"COMPLETE": 50, "REFUSED": 15, "OPT_OUT": 3, "NO_CONTACT": 25, "WRONG_NUMBER": 7}
    share = returns["outcome"].value_counts(normalize=True)
    got = dict(zip(share["outcome"].to_list(), (100 * share["proportion"]).to_list()))
    for outcome, pct in expected.items():
        assert got[outcome] == pytest.approx(pct, abs=1.5), outcome


def test_dont_know_and_not_applicable_rates(big_returns):
    _, returns = big_returns
    complete = returns.filter(pl.col("outcome") == "COMPLETE")
    for q in QUESTIONS:
        codes = complete[q].cast(pl.Int64)
        assert 1.0 <= 100 * float((codes == 8).mean()) <= 4.5, q
        na = 100 * float((codes == 9).mean())
        assert (3.0 <= na <= 7.0) if q in ("kept_informed", "actions_taken") else na < 2.0, q


def test_codes_are_spread_over_the_scale(big_returns):
    _, returns = big_returns
    codes = returns.filter(pl.col("outcome") == "COMPLETE")["whole_experience"].cast(pl.Int64)
    counts = codes.value_counts()
    seen = dict(zip(counts["whole_experience"].to_list(), counts["count"].to_list()))
    assert all(seen.get(c, 0) > 50 for c in range(1, 8))


def test_questions_correlate(big_returns):
    _, returns = big_returns
    valid = returns.filter(pl.col("outcome") == "COMPLETE").select(
        pl.col("treatment", "whole_experience").cast(pl.Int64)).filter(
        (pl.col("treatment") <= 7) & (pl.col("whole_experience") <= 7))
    happy = valid.filter(pl.col("treatment") <= 3)
    unhappy = valid.filter(pl.col("treatment") >= 4)
    assert satisfied_pct(happy["whole_experience"]) - satisfied_pct(unhappy["whole_experience"]) > 20


def test_strands_and_areas_differ(tmp_path):
    strands = ["BURGLARY", "ASB", "HARASSMENT", "VEHICLE"] * 5_000
    handoff = write_handoff(tmp_path / "out", "2023-07", strands)
    sent = pl.read_csv(handoff, infer_schema=False)
    areas = {sid: AREAS[(i // 4) % 4] for i, sid in enumerate(sent["survey_id"])}
    profiles = {sid: Profile(area=a) for sid, a in areas.items()}
    returns = read_returns(simulate_returns(handoff, tmp_path / "in", profiles=profiles))
    joined = returns.join(sent.select("survey_id", "survey_strand"), on="survey_id").with_columns(
        area=pl.col("survey_id").replace_strict(areas))
    complete = joined.filter(pl.col("outcome") == "COMPLETE")

    def pct(col, value):
        return satisfied_pct(complete.filter(pl.col(col) == value)["whole_experience"])

    assert pct("survey_strand", "BURGLARY") - pct("survey_strand", "ASB") > 4
    assert pct("survey_strand", "VEHICLE") - pct("survey_strand", "HARASSMENT") > 4
    area_pcts = [pct("area", a) for a in AREAS]
    assert max(area_pcts) - min(area_pcts) < 8
    rate = joined.group_by("survey_strand").agg((pl.col("outcome") == "COMPLETE").mean().alias("r"))
    rates = dict(zip(rate["survey_strand"].to_list(), rate["r"].to_list()))
    assert rates["BURGLARY"] > rates["HARASSMENT"]


def test_stand_in_and_pipeline_agree_on_the_file_contract():
    # The stand-in keeps its own copy of the file layouts, as the real contractor would; its codes
    # (outcomes, questions) are the vocabulary's (test_vocabulary.py).
    from vsat_assets.contractor_sim import simulate
    from vsat_assets.defs.handoff.files import HANDOFF_COLUMNS as PIPELINE_HANDOFF
    from vsat_assets.defs.responses.returns import RETURNS_COLUMNS as PIPELINE_RETURNS

    assert tuple(simulate.HANDOFF_COLUMNS) == PIPELINE_HANDOFF
    assert tuple(simulate.RETURNS_COLUMNS) == PIPELINE_RETURNS


# ----------------------------------------------------------------- CLI
def test_cli_skips_months_with_returns_and_prints_no_personal_data(tmp_path, capsys):
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    for month in ("2023-01", "2023-02", "2023-03"):
        write_handoff(outbox, month, ["ASB", "VIOLENCE"] * 30)
    simulate_returns(outbox / "handoff_2023-01.csv", inbox)
    before = (inbox / "returns_2023-01.csv").stat().st_mtime_ns

    assert main(["--outbox", str(outbox), "--inbox", str(inbox)]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 3
    assert "skipped" in lines[0] and "handoff_2023-01.csv" in lines[0]
    assert "returns_2023-02.csv" in lines[1] and "rows=60" in lines[1] and "COMPLETE=" in lines[1]
    assert (inbox / "returns_2023-03.csv").exists()
    assert (inbox / "returns_2023-01.csv").stat().st_mtime_ns == before
    for text in (out.out, out.err):
        for personal in ("Testy", "Example", PHONE, "7700", "Mx"):
            assert personal not in text

    assert main(["--outbox", str(outbox), "--inbox", str(inbox), "--month", "2023-03"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_cli_says_when_there_is_nothing_to_do(tmp_path, capsys):
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    outbox.mkdir()   # e.g. every hand-off file purged after its retention period
    assert main(["--outbox", str(outbox), "--inbox", str(inbox)]) == 0
    assert capsys.readouterr().out.strip() == f"nothing to do: no hand-off files in {outbox}"
    write_handoff(outbox, "2023-01", ["ASB"] * 5)
    assert main(["--outbox", str(outbox), "--inbox", str(inbox)]) == 0
    capsys.readouterr()
    assert main(["--outbox", str(outbox), "--inbox", str(inbox)]) == 0   # answered already
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"nothing to do: every hand-off in {outbox} has its returns in {inbox} already"


def test_cli_month_filter_and_errors(tmp_path, capsys):
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    write_handoff(outbox, "2023-01", ["ASB"] * 5)
    bad = write_handoff(outbox, "2023-02", ["ASB"] * 5)
    bad.write_text(bad.read_text().replace("ASB", "HATE", 1))
    assert main(["--outbox", str(outbox), "--inbox", str(inbox), "--month", "2023-01"]) == 0
    assert [p.name for p in inbox.iterdir()] == ["returns_2023-01.csv"]
    capsys.readouterr()
    assert main(["--outbox", str(outbox), "--inbox", str(inbox),
                 "--month", "2023-02", "--month", "2024-12"]) == 1
    err = capsys.readouterr().err
    assert "handoff_2023-02.csv" in err and "handoff_2024-12.csv" in err
    assert not (inbox / "returns_2023-02.csv").exists()


# ----------------------------------------------------------------- the planted truth
def _profiled_returns(tmp_path, month, n, profile_of):
    """(returns joined with each row's profile) for n rows of the typical strand mix."""
    handoff = write_handoff(tmp_path / "out", month, typical_strands(n))
    sent = pl.read_csv(handoff, infer_schema=False)
    profiles = {sid: profile_of(i) for i, sid in enumerate(sent["survey_id"])}
    returns = read_returns(simulate_returns(handoff, tmp_path / "in", profiles=profiles))
    return returns.with_columns(
        age_band=pl.col("survey_id").replace_strict({k: p.age_band for k, p in profiles.items()}),
        ethnic_group=pl.col("survey_id").replace_strict({k: p.ethnic_group for k, p in profiles.items()}))


def test_planted_year_change_ethnic_gap_and_profile_driven_response(tmp_path):
    bands = ("18-29", "30-44", "45-59", "60+")

    def profile(i):
        return Profile(AREAS[i % 4], bands[(i // 4) % 4], "ETHNIC_MINORITY" if i % 5 == 0 else "WHITE")

    # write_handoff dates reports in January: 2025-01 is in 2024/25, 2026-01 in 2025/26
    before = _profiled_returns(tmp_path / "a", "2025-01", 20_000, profile)
    after = _profiled_returns(tmp_path / "b", "2026-01", 20_000, profile)
    done_before = before.filter(pl.col("outcome") == "COMPLETE")
    done_after = after.filter(pl.col("outcome") == "COMPLETE")
    rise = satisfied_pct(done_after["whole_experience"]) - satisfied_pct(done_before["whole_experience"])
    assert 3.5 < rise < 9
    steady = satisfied_pct(done_after["treatment"]) - satisfied_pct(done_before["treatment"])
    assert abs(steady) < 1.5
    white = satisfied_pct(done_after.filter(pl.col("ethnic_group") == "WHITE")["whole_experience"])
    minority = satisfied_pct(done_after.filter(pl.col("ethnic_group") == "ETHNIC_MINORITY")["whole_experience"])
    assert white - minority > 5
    rate = after.group_by("age_band").agg((pl.col("outcome") == "COMPLETE").mean().alias("r"))
    rates = dict(zip(rate["age_band"].to_list(), rate["r"].to_list()))
    assert rates["60+"] - rates["18-29"] > 0.2


def test_default_truth_reproduces_durhams_published_figures(big_returns):
    _, returns = big_returns
    complete = returns.filter(pl.col("outcome") == "COMPLETE")
    published = {"whole_experience": 82, "treatment": 93, "kept_informed": 78, "ease_of_contact": 96}
    for q, pct in published.items():
        assert satisfied_pct(complete[q]) == pytest.approx(pct, abs=2.0), q


def test_harness_profiles_match_the_pipelines_survey_ids(tmp_path):
    import duckdb

    from vsat_assets.contractor_sim.profiles import profiles_from_reports
    from vsat_assets.privacy import pseudonym
    from vsat_assets.defs.raw_reports.schema import report_table_ddl

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA raw")
        conn.execute(report_table_ddl("raw.reports"))
        conn.execute("""INSERT INTO raw.reports (force_code, crime_reference, report_date, record_type, offence_code,
            policing_area, victim_person_id, victim_date_of_birth, victim_ethnicity, is_organisation, police_on_duty,
            is_deceased, is_sensitive, is_domestic_abuse) VALUES
            ('DUR', 'DUR/C/1', DATE '2025-06-01', 'CRIME', 'X', 'DARLINGTON', 'P1', DATE '1990-07-01', 'ASIAN',
             false, false, false, false, false),
            ('DUR', 'DUR/C/2', DATE '2025-06-01', 'CRIME', 'X', 'EAST_DURHAM', 'P2', NULL, 'WHITE',
             false, false, false, false, false)""")
    key = b"harness-test-key" * 2
    profiles = profiles_from_reports(db, key)
    assert profiles[pseudonym(key, "DUR/P1", "DUR/C/1")] == Profile("DARLINGTON", "30-44", "ETHNIC_MINORITY")
    assert profiles[pseudonym(key, "DUR/P2", "DUR/C/2")] == Profile("EAST_DURHAM", "UNKNOWN", "WHITE")
    # Only the victims of the hand-offs: the others are not read into Python at all.
    only = profiles_from_reports(db, key, [pseudonym(key, "DUR/P2", "DUR/C/2")])
    assert only == {pseudonym(key, "DUR/P2", "DUR/C/2"): Profile("EAST_DURHAM", "UNKNOWN", "WHITE")}


def test_cli_names_a_missing_reports_warehouse(tmp_path):
    write_handoff(tmp_path / "out", "2025-01", ["ASB"] * 3)
    with pytest.raises(FileNotFoundError, match="missing.duckdb: no such warehouse"):
        main(["--outbox", str(tmp_path / "out"), "--inbox", str(tmp_path / "in"),
              "--reports-db", str(tmp_path / "missing.duckdb")])
    assert not (tmp_path / "in").exists()
