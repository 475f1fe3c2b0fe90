"""England and Wales and the most similar groups from the forces' published figures (docs/national.md).

For a set of forces K with published figures p_k (%), standard errors se_k (each from the force's own
design) and weighted populations N_k, the combined figure is

    P = sum_k s_k p_k,   s_k = N_k / sum_K N,   var P = sum_k s_k^2 se_k^2

(forces are independent samples). A force's difference from a combination that includes it is
tested by vsat_assets.defs.compare.stats.compare with its share s_k, the test allowing for the
force being part of the comparator. The rank in the group (1 = most satisfied) has an interval
by simulation: draw every member's figure from N(p_k, se_k^2), rank, take the 2.5% and 97.5% ranks.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from vsat_assets.defs.compare.stats import Z95, compare
from vsat_assets.national.published import ForceFigure
from vsat_assets.register import forces

EW = "E&W"
RANK_DRAWS = 4000


@dataclass(frozen=True)
class Combined:
    comparator: str  # 'E&W' or the group's name
    financial_year: str
    question: str
    survey_strand: str
    satisfied_pct: float
    standard_error: float
    forces: int
    population: float
    weight_source: str  # 'weighted_population' or 'register_population'

    @property
    def half_width(self) -> float:
        return Z95 * self.standard_error


def weights(figures: list[ForceFigure]) -> tuple[dict[str, float], str]:
    """force -> N_k: the published weighted populations when every force gives one, else the register's."""
    if figures and all(f.weighted_population for f in figures):
        return {f.force: f.weighted_population for f in figures}, "weighted_population"
    register = forces()
    return {f.force: float(register[f.force].population) for f in figures}, "register_population"


def combine(name: str, figures: list[ForceFigure]) -> tuple[Combined, dict[str, float]]:
    """The combined figure of `figures` (one cell: year, question, strand) and each force's share."""
    n, source = weights(figures)
    total = sum(n.values())
    share = {force: value / total for force, value in n.items()}
    pct = sum(share[f.force] * f.satisfied_pct for f in figures)
    se = math.sqrt(sum((share[f.force] * f.standard_error) ** 2 for f in figures))
    first = figures[0]
    return Combined(name, first.financial_year, first.question, first.survey_strand, pct, se, len(figures),
                    total, source), share


def rank_intervals(figures: list[ForceFigure], seed_text: str, draws: int = RANK_DRAWS) -> dict[str, tuple]:
    """force -> (rank, rank_low, rank_high): rank of the estimate and the 95% interval of simulated ranks."""
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    pct = np.array([f.satisfied_pct for f in figures])
    se = np.array([f.standard_error for f in figures])
    simulated = rng.normal(pct, se, size=(draws, len(figures)))
    ranks = (-simulated).argsort(axis=1).argsort(axis=1) + 1
    point = (-pct).argsort().argsort() + 1
    low, high = np.percentile(ranks, [2.5, 97.5], axis=0, method="nearest")
    return {f.force: (int(point[i]), int(low[i]), int(high[i])) for i, f in enumerate(figures)}


def by_cell(figures: list[ForceFigure]) -> dict[tuple, list[ForceFigure]]:
    cells = defaultdict(list)
    for f in figures:
        cells[(f.financial_year, f.question, f.survey_strand)].append(f)
    return {k: sorted(v, key=lambda f: f.force) for k, v in sorted(cells.items())}


def national_rows(figures: list[ForceFigure]) -> tuple[list[Combined], list[dict]]:
    """(every combined figure, one comparison row per force, cell and comparator)."""
    register = forces()
    combined_rows, comparisons = [], []
    for (year, question, strand), cell in by_cell(figures).items():
        groups = {EW: cell}
        for f in cell:
            groups.setdefault(register[f.force].most_similar_group, []).append(f)
        for name, members in groups.items():
            combined, share = combine(name, members)
            combined_rows.append(combined)
            ranks = rank_intervals(members, f"{year}|{question}|{strand}|{name}")
            for f in members:
                tested = not f.low_base and len(members) > 1
                test = compare(f.satisfied_pct, Z95 * f.standard_error, combined.satisfied_pct,
                               combined.half_width, share[f.force]) if tested else None
                rank, low, high = ranks[f.force]
                comparisons.append({
                    "force_code": f.force, "financial_year": year, "question": question, "survey_strand": strand,
                    "comparator": EW if name == EW else "MSG", "comparator_name": name,
                    "force_pct": f.satisfied_pct, "force_ci_half_width": Z95 * f.standard_error,
                    "force_respondents": f.respondents, "force_low_base": f.low_base,
                    "comparator_pct": combined.satisfied_pct, "comparator_ci_half_width": combined.half_width,
                    "comparator_forces": combined.forces, "force_share": share[f.force],
                    "difference_pp": test.difference if test else None,
                    "difference_ci_half_width": test.half_width if test else None,
                    "p_value": test.p_value if test else None,
                    "significant": test.significant if test else None,
                    "verdict": test.verdict if test else None,
                    "rank": rank, "rank_low": low, "rank_high": high, "group_size": len(members),
                })
    return combined_rows, comparisons
