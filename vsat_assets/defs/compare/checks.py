"""Asset checks of the comparator figures and the comparison mart."""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.compare import files, mart, stats
from vsat_assets.warehouse import WarehouseResource, table_exists


def force_figures_disagreeing(conn, force: str) -> int:
    """The force's FORCE rows that differ significantly from its own published cell: a sign that
    the file's period, question or strand does not mean what the survey's does."""
    if not (table_exists(conn, files.TABLE) and table_exists(conn, mart.ANNUAL)):
        return 0
    return conn.execute(f"""
        SELECT count(*) FROM {files.TABLE} f JOIN {mart.ANNUAL} a
          ON a.financial_year = f.period AND a.question = f.question AND a.survey_strand = f.survey_strand
         AND a.area = 'ALL'
        WHERE f.comparator = '{files.FORCE}' AND f.force = ? AND NOT a.suppressed
          AND abs(a.satisfied_pct - f.estimate) > sqrt(power((a.ci_high - a.ci_low) / 2, 2) + power(f.half_width, 2))
        """, [force]).fetchone()[0]


def years_without_england_and_wales(conn, force: str) -> list[str]:
    """Years of the annual tables with no E&W whole-experience figure (general survey) for the force."""
    if not table_exists(conn, mart.ANNUAL):
        return []
    have = set() if not table_exists(conn, files.TABLE) else {r[0] for r in conn.execute(
        f"SELECT period FROM {files.TABLE} WHERE comparator = '{files.ENGLAND_AND_WALES}' AND force = ? "
        "AND question = 'whole_experience' AND survey_strand = 'ALL'", [force]).fetchall()}
    built = [r[0] for r in conn.execute(f"SELECT DISTINCT financial_year FROM {mart.ANNUAL} ORDER BY 1").fetchall()]
    return [y for y in built if y not in have]


@asset_check(asset="comparator_figures", name="force_figures_agree_with_survey", blocking=False,
             description="A force figure in the comparator files for a year the survey published does not differ "
                         "significantly from the survey's own figure (else the file's period or definitions differ).")
def force_figures_agree_with_survey(warehouse: WarehouseResource, annual: AnnualSettings) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        failing = force_figures_disagreeing(conn, annual.force_code_for_hmicfrs)
    return AssetCheckResult(passed=failing == 0, severity=AssetCheckSeverity.WARN,
                            metadata={"disagreeing_figures": failing})


@asset_check(asset="comparator_figures", name="england_and_wales_for_every_year", blocking=False,
             description="Every financial year of the annual tables has an England and Wales whole-experience figure "
                         "for the force, so the report can say how it compares.")
def england_and_wales_for_every_year(warehouse: WarehouseResource, annual: AnnualSettings) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        missing = years_without_england_and_wales(conn, annual.force_code_for_hmicfrs)
    return AssetCheckResult(passed=not missing, severity=AssetCheckSeverity.WARN,
                            metadata={"years_without_figure": ", ".join(missing) or "none"})


def unsound_comparison_rows(conn, suppress: int) -> int:
    """Rows that publish what disclosure control withholds, or word a difference against its test."""
    if not table_exists(conn, mart.TABLE):
        return 0
    return conn.execute(f"""
        SELECT count(*) FROM {mart.TABLE}
        WHERE (suppressed AND (difference_pp IS NOT NULL OR verdict IS NOT NULL))
           OR (suppressed AND force_pct IS NOT NULL AND comparator_pct IS NOT NULL)
           OR force_respondents < {int(suppress)} OR comparator_respondents < {int(suppress)}
           OR (verdict IS NOT NULL AND low_base)
           OR (verdict = '{stats.HIGHER}' AND NOT difference_ci_low > 0)
           OR (verdict = '{stats.LOWER}' AND NOT difference_ci_high < 0)
           OR (verdict = '{stats.IN_LINE}' AND NOT (difference_ci_low <= 0 AND difference_ci_high >= 0))
           OR (verdict IS NOT NULL AND verdict NOT IN {stats.VERDICTS})""").fetchone()[0]


@asset_check(asset="satisfaction_comparison", name="only_published_figures_compared", blocking=True,
             description="No comparison publishes a suppressed or under-threshold figure, tests a low base, or says "
                         "'higher than' / 'lower than' / 'broadly in line with' against its own interval.")
def only_published_figures_compared(warehouse: WarehouseResource, annual: AnnualSettings) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        failing = unsound_comparison_rows(conn, annual.suppress_threshold)
    return AssetCheckResult(passed=failing == 0, severity=AssetCheckSeverity.ERROR,
                            metadata={"failing_rows": failing})


COMPARE_CHECKS = [force_figures_agree_with_survey, england_and_wales_for_every_year, only_published_figures_compared]
