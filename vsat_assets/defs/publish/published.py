"""What the analysts' file and the extracts may hold: an allow-list of aggregate marts, each
published under its disclosure rule. A marts table on neither list stops the publish, so a
new table is published only once someone has decided how.

Counts of respondents under the threshold, and anything a suppressed cell could be rebuilt
from, stay in the warehouse (and, where configured, in the restricted file, restricted.py):

* respondent-level rows (marts.responses) are never published;
* the funnel is published without its completed interviews per month, strand and area: summed
  over a year they are each stratum's interviews, which bound (and with the annual margins
  pin) the bases of the annual table's suppressed cells;
* weighting_summary hides the respondents and respondent shares of a category under the
  threshold (and a complement, so that none follows from the margin's total), and those of
  the general survey's strata (strand x area) always: the annual table gives its bases under
  its own secondary suppression, and interviews per stratum beside it would bound, and with
  its margins pin, the bases it suppresses (an attack found 1 in 4 pinned at 3% of Durham's
  volume).
"""

from __future__ import annotations

from collections import defaultdict

from vsat_assets.defs.annual.disclosure import protect
from vsat_assets.defs.annual.tables import Thresholds
from vsat_assets.defs.publish.dictionary import TableDoc

PUBLISHED_TABLES = {
    "satisfaction_annual": "suppressed cells (primary and secondary) carry no figure and no base",
    "satisfaction_gap": "a suppressed year and question carries no figure and no base",
    "satisfaction_rolling": "suppressed periods carry no figure and no base",
    "satisfaction_da_monthly": "suppressed months carry no figure and no base",
    "satisfaction_da_quarterly": "a quarter holding a suppressed month is suppressed too",
    "satisfaction_comparison": "suppressed comparisons carry no figure and no base",
    "weighting_summary": "with a suppressed column: respondents and shares blank for categories of 1 to 9 "
                         "respondents, their complements, and every general-survey stratum",
    "survey_funnel": "victims' counts per stage, without the completed interviews (per month, strand and area "
                     "they would bound the annual table's suppressed bases)",
    "exclusion_audit": "victims' counts per exclusion reason (no respondent counts)",
    "report_volumes": "reports per record type (no respondent counts)",
}
NOT_PUBLISHED = {
    "responses": "one row per interview; in the restricted file only (docs/restricted-data.md)",
}
DROPPED_COLUMNS = {"survey_funnel": ("completed",)}
# Columns holding a figure or a base of respondents: blank on suppressed rows.
WEIGHTING_FIGURES = ("respondents", "design_pct", "calibrated_pct")
SUPPRESSED_DOC = ("suppressed", "BOOLEAN", "respondents, design_pct and calibrated_pct are blank: the category "
                  "has 1 to 9 respondents, or would give such a category away by difference, or is a general "
                  "survey stratum (its respondents are the bases of satisfaction_annual, disclosure-controlled "
                  "there).")


def documentation(doc: TableDoc) -> TableDoc:
    """A table's documentation as published: without its dropped columns, with any it gains."""
    name = doc.table.split(".", 1)[1]
    columns = tuple(c for c in doc.columns if c[0] not in DROPPED_COLUMNS.get(name, ()))
    if name == "weighting_summary":
        columns += (SUPPRESSED_DOC,)
    return TableDoc(doc.table, doc.description, columns)


class UndecidedTable(RuntimeError):
    pass


def tables_to_publish(marts_tables: list[str]) -> list[str]:
    undecided = sorted(set(marts_tables) - set(PUBLISHED_TABLES) - set(NOT_PUBLISHED))
    if undecided:
        raise UndecidedTable(
            f"marts tables {undecided} are on neither PUBLISHED_TABLES nor NOT_PUBLISHED "
            "(vsat_assets/defs/publish/published.py): decide how each is published before the analysts' file is")
    return [t for t in marts_tables if t in PUBLISHED_TABLES]


def hidden_weighting_categories(conn, threshold: int = Thresholds.suppress) -> set[tuple]:
    """(financial_year, survey, margin, category) of marts.weighting_summary to publish blank."""
    rows = conn.execute("SELECT financial_year, survey, margin, category, respondents "
                        "FROM marts.weighting_summary").fetchall()
    margins = defaultdict(dict)
    totals = {}
    for fy, survey, margin, category, n in rows:
        if margin == "ALL":
            totals[(fy, survey)] = n or 0
        else:
            margins[(fy, survey, margin)][category] = n or 0
    hidden = set()
    for (fy, survey, margin), counts in margins.items():
        primary = {c for c, n in counts.items() if 0 < n < threshold}  # none to protect in an empty one
        if survey == "GENERAL" and margin == "stratum":  # the annual table's bases say it, under its control
            primary |= set(counts)
        # An empty category is published as 0: nothing to protect, and no use as a complement.
        keys = {**{c: n for c, n in counts.items() if n}, "ALL": totals.get((fy, survey), 0)}
        line = [["ALL", *sorted(c for c in keys if c != "ALL")]]
        safe = protect(keys, primary, line, rank=lambda c: (c == "ALL",))
        hidden |= {(fy, survey, "ALL", "ALL") if c == "ALL" else (fy, survey, margin, c) for c in safe}
    for (fy, survey), n in totals.items():
        if 0 < n < threshold:
            hidden |= {(fy, survey, "ALL", "ALL")} | {(f, s, m, c) for (f, s, m), cs in margins.items()
                                                      if (f, s) == (fy, survey) for c in cs}
    return hidden


def select_sql(conn, table: str, columns: list[str]) -> str:
    """The SELECT that gives the published copy of marts.`table` (its `columns` in order)."""
    kept = [c for c in columns if c not in DROPPED_COLUMNS.get(table, ())]
    if table != "weighting_summary":
        return f"SELECT {', '.join(kept)} FROM marts.{table}"
    conn.execute("CREATE OR REPLACE TEMP TABLE _hidden_categories "
                 "(financial_year VARCHAR, survey VARCHAR, margin VARCHAR, category VARCHAR)")
    hidden = sorted(hidden_weighting_categories(conn))
    if hidden:
        conn.executemany("INSERT INTO _hidden_categories VALUES (?, ?, ?, ?)", hidden)
    parts = [f"CASE WHEN h.category IS NULL THEN w.{c} END AS {c}" if c in WEIGHTING_FIGURES else f"w.{c}"
             for c in kept]
    return (f"SELECT {', '.join(parts)}, h.category IS NOT NULL AS suppressed FROM marts.weighting_summary w "
            "LEFT JOIN _hidden_categories h ON h.financial_year = w.financial_year AND h.survey = w.survey "
            "AND h.margin = w.margin AND h.category = w.category")
