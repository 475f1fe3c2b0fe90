"""Human labels and plain-English definitions of every code the marts use.

Published as `marts.lookups(kind, code, label, definition)` in the analysts' file and
its extracts, and used by the annual report. The codes and their wording are defined once,
in vsat_assets/vocabulary.py; see docs/method.md for the rules behind them.
"""

from __future__ import annotations

from typing import NamedTuple

from vsat_assets import vocabulary as v


class Lookup(NamedTuple):
    kind: str
    code: str
    label: str
    definition: str


# kind -> the marts columns whose values are codes of that kind (checked by the tests).
CODE_COLUMNS = {
    "strand": ("survey_strand",),
    "area": ("area",),
    "exclusion_reason": ("reason",),
    "question": ("question",),
    "outcome": ("outcome",),
    "record_type": ("record_type",),
    "ethnic_group": ("ethnic_group",),
}

_AREAS = {term.code: term for term in (v.ALL_AREAS_TERM, *v.AREA_TERMS)}
_KINDS = (
    ("strand", (v.ALL_STRANDS_TERM, *v.STRAND_TERMS, v.NOT_SURVEYED_TERM)),
    ("exclusion_reason", v.REASON_TERMS),
    ("question", v.QUESTION_TERMS),
    ("outcome", v.OUTCOME_TERMS),
    ("answer_code", v.ANSWER_TERMS),
    ("record_type", v.RECORD_TYPE_TERMS),
    ("ethnic_group", v.ETHNIC_GROUP_TERMS),
)


def area_label(code: str) -> str:
    """'EAST_DURHAM' -> 'East Durham'; areas a force adds get their code in title case."""
    return _AREAS[code].label if code in _AREAS else code.replace("_", " ").title()


def lookups(areas: list[str] | tuple[str, ...] = ()) -> list[Lookup]:
    """Every lookup row; `areas` adds the force's configured areas beyond the built-in ones."""
    rows = [Lookup(kind, *term) for kind, terms in _KINDS[:1] for term in terms]
    area_codes = list(_AREAS) + [a for a in areas if a not in _AREAS]
    rows += [Lookup("area", code, area_label(code),
                    _AREAS[code].definition if code in _AREAS else f"{area_label(code)} policing area.")
             for code in area_codes]
    rows += [Lookup(kind, *term) for kind, terms in _KINDS[1:] for term in terms]
    return rows


def label(kind: str, code: str) -> str:
    """The human label of a code (the code itself when unknown)."""
    if kind == "area":
        return area_label(code)
    return next((row.label for row in lookups() if row.kind == kind and row.code == code), code)


TABLE_DESCRIPTION = (
    "Labels and plain-English definitions of every code used in the marts: kind is strand (survey_strand), "
    "area, exclusion_reason (reason; the survey_funnel's columns in lower case), question, outcome, "
    "answer_code (the five answer columns), record_type or ethnic_group. Join on kind and code. "
    "The rules are in docs/method.md."
)
COLUMNS = (
    ("kind", "VARCHAR", "What the code is: strand, area, exclusion_reason, question, outcome, answer_code, "
                        "record_type or ethnic_group."),
    ("code", "VARCHAR", "The code as it appears in the marts (answer codes as text, '1' to '9')."),
    ("label", "VARCHAR", "Human label, for charts and tables."),
    ("definition", "VARCHAR", "What the code means, in plain English."),
)
