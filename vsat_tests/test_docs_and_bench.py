"""The docs' generated parts are current (docs/data-dictionary.md) and the analysts' example queries
(docs/analysts.md) run; the benchmark runs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
DICTIONARY, ANALYSTS = ROOT / "docs" / "data-dictionary.md", ROOT / "docs" / "analysts.md"


def test_data_dictionary_is_current():
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "scripts/data_dictionary.py", "--check", str(DICTIONARY)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_data_dictionary_documents_every_published_column():
    from vsat_assets.definitions import defs
    from vsat_assets.defs.publish.dictionary import marts_documentation

    readme = DICTIONARY.read_text()
    for name, doc in marts_documentation(list(defs.assets)).items():
        assert f"`{doc.table}`" in readme
        for column, _, description in doc.columns:
            assert description, f"{doc.table}.{column} has no description"
            assert f"| `{column}` |" in readme


def readme_queries() -> list[str]:
    """The analysts' example queries (docs/analysts.md, Example queries), one string each."""
    block = ANALYSTS.read_text().split("\n## Example queries\n")[1].split("```sql")[1].split("```")[0]
    return [q.strip() for q in block.split(";") if q.strip()]


@pytest.mark.slow
def test_bench_smoke_prints_every_figure_and_readme_queries_run_on_its_data(tmp_path):
    """The benchmark's miniature: both modes run and every figure is printed."""
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--smoke", "--keep", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for figure in ("wall s", "rows/s", "peak MB", "Dagster / engine floor", "code location load", "time per stage"):
        assert figure in result.stdout
    # the national miniature: its two forces through the per-force design, each run's row and the targets
    national = re.findall(r"^(floor|dagster) +([12]) +[\d.]+ +[\d.]+ +[\d.]+ +([\d.]+) +(\d+) +(\d+)$",
                          result.stdout, re.M)
    assert [(mode, workers) for mode, workers, *_ in national] == [("floor", "1"), ("floor", "2"), ("dagster", "2")]
    assert all(float(wall) > 0 and int(peak) > 100 for _, _, wall, peak, _ in national), national
    cores = len(os.sched_getaffinity(0))  # each force's DuckDB threads: its share of the cores
    assert [int(threads) for *_, threads in national] == [cores, max(1, cores // 2), max(1, cores // 2)]
    for figure in ("national, per force (2 forces", "2 forces at a time against one after another",
                   "national Dagster / floor = ", "national peak memory", "checks (Dagster only)",
                   "comparison (second process)"):
        assert figure in result.stdout, figure
    assert len(readme_queries()) == 5
    with duckdb.connect(str(tmp_path / "dagster" / "vsat_analytics.duckdb"), read_only=True) as conn:
        for query in readme_queries():
            assert conn.execute(query).fetchall(), query


@pytest.mark.slow
def test_bench_load_only_prints_the_load_ratio_against_its_target():
    result = subprocess.run([sys.executable, "scripts/bench.py", "--load-only", "--load-rounds", "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"code location load \d+\.\d\d s vs import dagster \d+\.\d\d s: ratio \d+\.\d\d "
                        r"\((within|OVER) the 1\.3 target; median of 2 rounds of fresh interpreters, "
                        r"each round's ratio \d+\.\d\d-\d+\.\d\d\)", line), line


def test_method_page_is_in_the_repository_and_nothing_points_to_a_missing_brief():
    method = (ROOT / "docs" / "method.md").read_text()
    for heading in ("Eligibility", "Sampling", "Weighting", "Intervals", "Significance", "Disclosure control",
                    "Retention"):
        assert f"\n## {heading}\n" in method, heading
    assert "docs/method.md" in (ROOT / "README.md").read_text()
    from vsat_assets.definitions import defs

    described = [spec.description or "" for a in defs.assets for spec in a.specs]
    assert sum("docs/method.md" in d for d in described) >= 5
    sources = [p for folder in ("vsat_assets", "dbt_like_sql", "docs", "scripts") for p in (ROOT / folder).rglob("*")
               if p.suffix in {".py", ".sql", ".yml", ".md"}] + [ROOT / "README.md"]
    assert [str(p) for p in sources if "brief" in p.read_text().lower()] == []


def test_bench_refuses_a_scale_it_does_not_know_rather_than_running_the_others():
    result = subprocess.run([sys.executable, "scripts/bench.py", "--scales", "durham,natonal"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown scale natonal: choose from durham, pooled, national" in result.stderr
