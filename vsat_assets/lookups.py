"""Human labels and plain-English definitions of every code the marts use.

Published as `marts.lookups(kind, code, label, definition)` in the analysts' file and
its extracts, and used by the annual report. See docs/method.md for the rules behind them.
"""

from __future__ import annotations

from typing import NamedTuple


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

_STRANDS = (
    ("ALL", "All strands (general survey)",
     "Every surveyed strand except domestic abuse, which is a separate survey reported on its own."),
    ("BURGLARY", "Burglary", "Burglary of a home or of a business or community building, including attempts."),
    ("VEHICLE", "Vehicle crime", "Theft of or from a motor vehicle, or interfering with one."),
    ("VIOLENCE", "Violent crime", "Violence with or without injury, and robbery of personal property."),
    ("CRIMINAL_DAMAGE", "Criminal damage", "Criminal damage and arson."),
    ("HARASSMENT", "Harassment", "Stalking, harassment and malicious communications."),
    ("FRAUD", "Fraud", "Fraud reported to the police."),
    ("HATE", "Hate crime", "Offences aggravated by hostility to race or religion, and other hate crimes or incidents."),
    ("ASB", "Anti-social behaviour", "Personal and nuisance anti-social behaviour incidents."),
    ("DOMESTIC_ABUSE", "Domestic abuse",
     "Victims of domestic abuse in a surveyed offence: a separate survey, sampled more heavily and reported monthly."),
    ("NOT_SURVEYED", "Not surveyed",
     "Offences outside every survey strand (for example sexual offences, shoplifting, public order)."),
)
_AREA_LABELS = {
    "ALL": ("Whole force", "Every policing area of the force together."),
    "NORTH_DURHAM": ("North Durham", "North Durham policing area."),
    "EAST_DURHAM": ("East Durham", "East Durham policing area."),
    "SOUTH_DURHAM": ("South Durham", "South Durham policing area."),
    "DARLINGTON": ("Darlington", "Darlington policing area."),
}
_REASONS = (
    ("ELIGIBLE", "Eligible", "Passed every eligibility rule and screen: in the sampling frame."),
    ("OUT_OF_SCOPE", "Offence not surveyed",
     "The offence is in no survey strand (sexual offences, drugs, offences without a personal victim)."),
    ("UNDER_AGE", "Under age", "The victim was younger than the minimum age (default 18) when the report was made."),
    ("NOT_A_PERSON", "Business or organisation", "The victim is a business or organisation, not a person."),
    ("POLICE_ON_DUTY", "Police on duty", "The victim is a police officer or staff member who was on duty."),
    ("DECEASED", "Deceased", "The victim has died."),
    ("SENSITIVE", "Sensitive case",
     "An officer flagged the case as sensitive or serious (for example bereavement), so the victim is not called."),
    ("NOT_SAFE_TO_CONTACT", "Not safe to contact",
     "A domestic abuse victim for whom safe contact has not been confirmed."),
    ("NO_PHONE", "No usable phone number", "No telephone number that can be called: this is a telephone survey."),
    ("OPTED_OUT", "Opted out", "The victim asked not to be surveyed (matched on person or phone number)."),
    ("RECENTLY_SURVEYED", "Surveyed in the last 12 months",
     "The victim was handed to the contractor in the previous 12 months; nobody is called twice in a year."),
    ("DUPLICATE_IN_MONTH", "Another report that month",
     "The same person is already eligible for an earlier report in the same month; only the earliest is kept."),
    ("WINDOW_CLOSED", "Contact window closed",
     "The 8 to 12 week window after the report had closed before the hand-off was sent."),
)
_QUESTIONS = (
    ("ease_of_contact", "Ease of contact", "How satisfied the victim was with how easy it was to contact the police."),
    ("actions_taken", "Actions taken", "How satisfied the victim was with the actions the police took."),
    ("kept_informed", "Kept informed", "How satisfied the victim was with how well they were kept informed of progress."),
    ("treatment", "Treatment", "How satisfied the victim was with the way the police treated them."),
    ("whole_experience", "Whole experience",
     "How satisfied the victim was with the whole experience (the national indicator of victim satisfaction)."),
)
_OUTCOMES = (
    ("COMPLETE", "Interview completed", "The victim answered the survey."),
    ("REFUSED", "Refused", "The victim declined this survey."),
    ("OPT_OUT", "Opted out", "The victim declined and asked never to be surveyed again; the force honours it."),
    ("NO_CONTACT", "No contact", "The contractor could not reach the victim within the contact window."),
    ("WRONG_NUMBER", "Wrong number", "The telephone number did not reach the victim."),
)
_RECORD_TYPES = (
    ("CRIME", "Recorded crime", "A crime recorded by the force."),
    ("ASB", "Anti-social behaviour incident", "An anti-social behaviour incident recorded by the force."),
)
_ETHNIC_GROUPS = (
    ("WHITE", "White", "The victim described their ethnicity as white."),
    ("ETHNIC_MINORITY", "Ethnic minority", "The victim described their ethnicity as mixed, Asian, Black or other."),
    ("NOT_STATED", "Not stated", "The victim's ethnicity is not recorded."),
)
ANSWER_CODES = (
    ("1", "Completely satisfied", "Satisfied: counts towards satisfied_pct and completely_or_very_pct."),
    ("2", "Very satisfied", "Satisfied: counts towards satisfied_pct and completely_or_very_pct."),
    ("3", "Fairly satisfied", "Satisfied: counts towards satisfied_pct."),
    ("4", "Neither satisfied nor dissatisfied", "A valid answer that is not satisfied."),
    ("5", "Fairly dissatisfied", "A valid answer that is not satisfied."),
    ("6", "Very dissatisfied", "A valid answer that is not satisfied."),
    ("7", "Completely dissatisfied", "A valid answer that is not satisfied."),
    ("8", "Don't know", "Left out of the base."),
    ("9", "Not applicable", "Left out of the base."),
)


def area_label(code: str) -> str:
    """'EAST_DURHAM' -> 'East Durham'; areas a force adds get their code in title case."""
    return _AREA_LABELS.get(code, (code.replace("_", " ").title(), ""))[0]


def lookups(areas: list[str] | tuple[str, ...] = ()) -> list[Lookup]:
    """Every lookup row; `areas` adds the force's configured areas beyond the built-in ones."""
    rows = [Lookup("strand", *s) for s in _STRANDS]
    area_codes = list(_AREA_LABELS) + [a for a in areas if a not in _AREA_LABELS]
    rows += [Lookup("area", code, area_label(code), _AREA_LABELS.get(code, ("", f"{area_label(code)} policing area."))[1])
             for code in area_codes]
    rows += [Lookup("exclusion_reason", *r) for r in _REASONS]
    rows += [Lookup("question", *q) for q in _QUESTIONS]
    rows += [Lookup("outcome", *o) for o in _OUTCOMES]
    rows += [Lookup("answer_code", *a) for a in ANSWER_CODES]
    rows += [Lookup("record_type", *r) for r in _RECORD_TYPES]
    rows += [Lookup("ethnic_group", *e) for e in _ETHNIC_GROUPS]
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
