"""Reading what the forces publish for the national comparison, and nothing else.

The national stage's only input is a folder of the forces' national extracts, one sub-folder per
force (`<national>/published/<CODE>/national_vsat_YYYY-YY.csv`, the layout of
vsat_assets/defs/compare/national_extract.py). It never opens a force's warehouse, outbox, inbox
or key: `published_files` lists only extract files and `read_extract` reads only those.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from vsat_assets.defs.compare.national_extract import COLUMNS, PREFIX
from vsat_assets.register import forces
from vsat_assets.vocabulary import ALL, QUESTIONS, SURVEY_STRANDS


class PublishedFileError(ValueError):
    """A force's extract breaks the layout; the message names the file, line and column."""


@dataclass(frozen=True)
class ForceFigure:
    force: str
    financial_year: str
    question: str
    survey_strand: str
    respondents: int
    satisfied_pct: float
    standard_error: float
    low_base: bool
    weighted_population: float | None


def published_files(folder: Path) -> list[Path]:
    """Every force's extracts under `folder`, by force then year (only `<CODE>/national_vsat_*.csv`)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{PREFIX}*.csv") if p.parent.name in forces())


def read_extract(path: Path) -> list[ForceFigure]:
    """The published (not suppressed) cells of one extract; PublishedFileError on a fault."""
    name = f"{path.parent.name}/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PublishedFileError(f"{name}: not UTF-8") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise PublishedFileError(f"{name}, line 1: the header must be {','.join(COLUMNS)}")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            raise PublishedFileError(f"{name}, line {line}: {len(row)} fields, the header has {len(COLUMNS)}")
        cell = dict(zip(COLUMNS, row))

        def fault(column: str, why: str) -> PublishedFileError:
            return PublishedFileError(f"{name}, line {line}, column {column}: {cell[column]!r} {why}")

        if cell["force_code"] != path.parent.name:
            raise fault("force_code", f"is not the folder's force {path.parent.name}")
        if cell["question"] not in QUESTIONS:
            raise fault("question", "is not a question")
        if cell["survey_strand"] not in (ALL, *SURVEY_STRANDS):
            raise fault("survey_strand", "is not a strand")
        if cell["suppressed"] not in ("true", "false"):
            raise fault("suppressed", "is not true or false")
        if cell["suppressed"] == "true":
            continue
        values = {}
        for column in ("respondents", "satisfied_pct", "standard_error", "weighted_population"):
            if column == "weighted_population" and cell[column] == "":
                values[column] = None
                continue
            try:
                values[column] = float(cell[column])
            except ValueError:
                raise fault(column, "is not a number") from None
            if not math.isfinite(values[column]) or values[column] < 0:
                raise fault(column, "is not a number of at least 0")
        if values["satisfied_pct"] > 100:
            raise fault("satisfied_pct", "is above 100")
        out.append(ForceFigure(cell["force_code"], cell["financial_year"], cell["question"], cell["survey_strand"],
                               int(values["respondents"]), values["satisfied_pct"], values["standard_error"],
                               cell["low_base"] == "true", values["weighted_population"]))
    return out


def read_published(folder: Path) -> list[ForceFigure]:
    """Every force's published cells; a force's two files for one year are refused."""
    figures, seen = [], {}
    for path in published_files(folder):
        for figure in read_extract(path):
            key = (figure.force, figure.financial_year, figure.question, figure.survey_strand)
            if key in seen:
                raise PublishedFileError(f"{path.parent.name}/{path.name}: {key} is also in {seen[key]}")
            seen[key] = path.name
            figures.append(figure)
    return figures
