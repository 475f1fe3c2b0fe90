"""Secondary suppression and significance of the annual tables, applied in the marts themselves.

Disclosure control. Per financial year and question the annual table is a strand x area
table with margins: each strand's total is the sum of its areas, each area's total the
sum of its strands, and the force total the sum of either margin (respondent counts add
up exactly). A suppressed cell must not be recoverable from published cells by any
combination of these sums and differences. A suppressed cell is recoverable exactly when
its unit vector lies in the row space of the constraint matrix restricted to the
suppressed cells (equivalently: every solution of the system gives it the same value).
Until no suppressed cell is recoverable, the smallest published cell sharing a
constraint with a recoverable one is suppressed as well (interior cells before totals).
Suppressed cells keep no figure and no base: respondents and effective_n are null.

Significance. A change (or gap) is tested only when both sides are published on at least
the low-base threshold. z = difference / sqrt(se1^2 + se2^2) gives a two-sided p-value;
``change_significant`` is the SCJS rule on interval half-widths, and
``change_significant_fdr`` controls the false discovery rate at 5% over all the year's
change tests (Benjamini and Hochberg, 1995).
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

from vsat_assets.defs.annual.tables import ALL, ANNUAL, ESTIMATE_NAMES, GAP, Thresholds

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import numpy as np


FDR = 0.05
Cell = tuple[str, str]  # (survey_strand, area)


def constraints(cells: set[Cell]) -> list[list[Cell]]:
    """Each additive relation as [total, part, part, ...] over the cells present (absent = 0)."""
    strands = sorted({s for s, a in cells if s != ALL})
    areas = sorted({a for s, a in cells if a != ALL})
    out = [[(s, ALL)] + [(s, a) for a in areas if (s, a) in cells] for s in strands]
    out += [[(ALL, a)] + [(s, a) for s in strands if (s, a) in cells] for a in areas]
    out += [[(ALL, ALL)] + [(s, ALL) for s in strands], [(ALL, ALL)] + [(ALL, a) for a in areas]]
    return [[c for c in line if c in cells] for line in out]


def recoverable(cells: set[Cell], suppressed: set[Cell]) -> set[Cell]:
    """Suppressed cells whose value follows from the published ones by linear algebra."""
    return recoverable_in(constraints(cells), suppressed)


def recoverable_in(lines: list[list], suppressed: set) -> set:
    """Suppressed keys whose value follows from the others by the sums `lines` ([total, part, ...])."""
    import numpy as np
    hidden = sorted(suppressed, key=repr)
    if not hidden:
        return set()
    index = {c: i for i, c in enumerate(hidden)}
    rows = []
    for line in lines:
        row = np.zeros(len(hidden))
        for j, c in enumerate(line):
            if c in index:
                row[index[c]] += 1.0 if j else -1.0
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    matrix = np.array(rows)
    _, sv, vt = np.linalg.svd(matrix)
    rank = int((sv > 1e-9).sum())
    null = vt[rank:]  # basis of the null space (rows)
    if null.shape[0] == 0:
        return set(hidden)
    return {c for c in hidden if np.all(np.abs(null[:, index[c]]) < 1e-9)}


def secondary_suppression(counts: dict[Cell, int], primary: set[Cell]) -> set[Cell]:
    """The suppressed set (primary plus secondary) such that no suppressed cell is recoverable:
    the strand x area table's cells, totals only as a last resort, the force total last of all."""
    return protect(counts, primary, constraints(set(counts)),
                   rank=lambda c: (c == (ALL, ALL), ALL in c))


def protect(counts: dict, primary: set, lines: list[list], rank=lambda key: ()) -> set:
    """The suppressed set (primary plus secondary) such that no suppressed key follows from the
    published ones by the sums `lines` ([total, part, ...]).

    Greedy: while some suppressed key is recoverable, add the published key that leaves the
    fewest recoverable, preferring keys in a relation with an exposed one, then by `rank`
    (e.g. totals last), then small counts before large."""
    keys, suppressed = set(counts), set(primary)
    exposed = recoverable_in(lines, suppressed)
    while exposed:
        near = {c for line in lines if exposed & set(line) for c in line} - suppressed
        candidates = near or (keys - suppressed)
        if not candidates:
            raise RuntimeError("every key is suppressed yet some are recoverable")  # cannot happen

        def score(c):
            return (rank(c)[:1], len(recoverable_in(lines, suppressed | {c})), rank(c)[1:], counts[c], repr(c))

        suppressed.add(min(candidates, key=score))
        exposed = recoverable_in(lines, suppressed)
    return suppressed


def p_value(diff: float, se1: float, se2: float) -> float | None:
    se = math.sqrt(se1 * se1 + se2 * se2)
    if se == 0:
        return None
    return math.erfc(abs(diff) / se / math.sqrt(2.0))


def benjamini_hochberg(p_values: list[float], rate: float = FDR) -> list[bool]:
    """Reject flags in the input order: the largest k with p_(k) <= k * rate / m, and all below it."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= rank * rate / m:
            cutoff = rank
    rejected = set(order[:cutoff])
    return [i in rejected for i in range(m)]


def finalise_annual(conn: duckdb.DuckDBPyConnection, start: date, end: date, t: Thresholds) -> None:
    """Secondary suppression, then changes against the stored previous year, for years in [start, end)."""
    for year in range(start.year, end.year):
        year_start = date(year, 4, 1)
        if not start <= year_start < end:
            continue
        _suppress_year(conn, year_start)
        _changes_year(conn, year_start, t)


def _suppress_year(conn: duckdb.DuckDBPyConnection, year_start: date) -> None:
    rows = conn.execute(f"""SELECT question, survey_strand, area, respondents, suppressed FROM {ANNUAL.name}
                            WHERE year_start = ?""", [year_start]).fetchall()
    hidden = []
    for question in sorted({r[0] for r in rows}):
        counts = {(s, a): n or 0 for q, s, a, n, _ in rows if q == question}
        primary = {(s, a) for q, s, a, _, sup in rows if q == question and sup}
        hidden += [(question, s, a) for s, a in secondary_suppression(counts, primary)]
    if not hidden:
        return
    conn.execute("CREATE OR REPLACE TEMP TABLE _hidden (question VARCHAR, survey_strand VARCHAR, area VARCHAR)")
    conn.executemany("INSERT INTO _hidden VALUES (?, ?, ?)", hidden)
    blank = ", ".join(f"{c} = NULL" for c in ESTIMATE_NAMES if c != "suppressed")
    conn.execute(f"""UPDATE {ANNUAL.name} SET suppressed = true, {blank}
                     FROM _hidden h WHERE year_start = ? AND {ANNUAL.name}.question = h.question
                       AND {ANNUAL.name}.survey_strand = h.survey_strand AND {ANNUAL.name}.area = h.area""",
                 [year_start])


def _changes_year(conn: duckdb.DuckDBPyConnection, year_start: date, t: Thresholds) -> None:
    previous = date(year_start.year - 1, 4, 1)
    pairs = conn.execute(f"""
        SELECT cur.question, cur.survey_strand, cur.area,
               cur.satisfied_pct - prev.satisfied_pct, cur.standard_error, prev.standard_error,
               cur.ci_high - cur.ci_low, prev.ci_high - prev.ci_low
        FROM {ANNUAL.name} cur JOIN {ANNUAL.name} prev
          ON prev.year_start = ? AND prev.question = cur.question
         AND prev.survey_strand = cur.survey_strand AND prev.area = cur.area
        WHERE cur.year_start = ? AND NOT cur.suppressed AND NOT prev.suppressed
          AND cur.respondents >= {int(t.low_base)} AND prev.respondents >= {int(t.low_base)}""",
        [previous, year_start]).fetchall()
    tests = [(q, s, a, d, p_value(d, se1, se2), abs(d) > math.hypot(w1 / 2, w2 / 2))
             for q, s, a, d, se1, se2, w1, w2 in pairs]
    flags = benjamini_hochberg([p if p is not None else 1.0 for *_, p, _ in tests])
    rows = [(q, s, a, year_start, d, p, float(scjs), float(fdr))
            for (q, s, a, d, p, scjs), fdr in zip(tests, flags)]
    conn.execute("CREATE OR REPLACE TEMP TABLE _changes (question VARCHAR, survey_strand VARCHAR, area VARCHAR, "
                 "year_start DATE, d DOUBLE, p DOUBLE, scjs BOOLEAN, fdr BOOLEAN)")
    if rows:
        conn.executemany("INSERT INTO _changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(f"""UPDATE {ANNUAL.name} SET change_vs_previous_pp = c.d, change_p_value = c.p,
                         change_significant = c.scjs, change_significant_fdr = c.fdr
                     FROM _changes c WHERE {ANNUAL.name}.year_start = c.year_start
                       AND {ANNUAL.name}.question = c.question AND {ANNUAL.name}.survey_strand = c.survey_strand
                       AND {ANNUAL.name}.area = c.area""")


def finalise_gap(conn: duckdb.DuckDBPyConnection, start: date, end: date, t: Thresholds) -> None:
    """p-values and the BH flag over each year's gap tests (both bases at least the low-base threshold)."""
    rows = conn.execute(f"""SELECT year_start, question, gap_pp, white_se, ethnic_minority_se FROM {GAP.name}
                            WHERE year_start >= ? AND year_start < ? AND gap_significant IS NOT NULL""",
                        [start, end]).fetchall()
    out = []
    for year_start in sorted({r[0] for r in rows}):
        tests = [(q, p_value(g, a, b)) for y, q, g, a, b in rows if y == year_start]
        flags = benjamini_hochberg([p if p is not None else 1.0 for _, p in tests])
        out += [(year_start, q, p, fdr) for (q, p), fdr in zip(tests, flags)]
    conn.execute("CREATE OR REPLACE TEMP TABLE _gaps (year_start DATE, question VARCHAR, p DOUBLE, fdr BOOLEAN)")
    if out:
        conn.executemany("INSERT INTO _gaps VALUES (?, ?, ?, ?)", out)
    conn.execute(f"""UPDATE {GAP.name} SET gap_p_value = g.p, gap_significant_fdr = g.fdr FROM _gaps g
                     WHERE {GAP.name}.year_start = g.year_start AND {GAP.name}.question = g.question""")
