"""The survey's vocabulary, defined once: every code the platform reads, writes or reports on.

Strands, policing areas, exclusion reasons (in rule order), questions (in survey order),
outcomes and answer codes, each with its human label and plain-English definition
(domain.md sections 2-5; the rules behind them are in docs/method.md). Everything else
takes its lists from here: the SQL models as runner variables (`SurveySettings.model_vars`,
e.g. `{{ var('survey_strands') }}` and YAML `accepted_values: {var: exclusion_reasons}`),
the checks, the generator, the contractor stand-in, the returns reader, the annual tables,
the report's labels and `marts.lookups`. `vsat_tests/test_vocabulary.py` fails when another
module writes one of these lists out again.
"""

from __future__ import annotations

from typing import NamedTuple


class Term(NamedTuple):
    code: str
    label: str
    definition: str


def codes(terms: tuple[Term, ...]) -> tuple[str, ...]:
    return tuple(term.code for term in terms)


# Survey strands (domain.md section 2), in the order reports list them. DOMESTIC_ABUSE is its own survey.
STRAND_TERMS = (
    Term("BURGLARY", "Burglary", "Burglary of a home or of a business or community building, including attempts."),
    Term("VEHICLE", "Vehicle crime", "Theft of or from a motor vehicle, or interfering with one."),
    Term("VIOLENCE", "Violent crime", "Violence with or without injury, and robbery of personal property."),
    Term("CRIMINAL_DAMAGE", "Criminal damage", "Criminal damage and arson."),
    Term("HARASSMENT", "Harassment", "Stalking, harassment and malicious communications."),
    Term("FRAUD", "Fraud", "Fraud reported to the police."),
    Term("HATE", "Hate crime",
         "Offences aggravated by hostility to race or religion, and other hate crimes or incidents."),
    Term("ASB", "Anti-social behaviour", "Personal and nuisance anti-social behaviour incidents."),
    Term("DOMESTIC_ABUSE", "Domestic abuse",
         "Victims of domestic abuse in a surveyed offence: a separate survey, sampled more heavily and reported "
         "monthly."),
)
DOMESTIC_ABUSE = "DOMESTIC_ABUSE"
SURVEY_STRANDS = codes(STRAND_TERMS)
# The general survey: every strand but domestic abuse (what 'ALL' means in the annual tables).
GENERAL_STRANDS = tuple(s for s in SURVEY_STRANDS if s != DOMESTIC_ABUSE)

# Codes the marts add: ALL (every strand or area together) and NOT_SURVEYED (no strand).
ALL = "ALL"
NOT_SURVEYED = "NOT_SURVEYED"
ALL_STRANDS_TERM = Term(ALL, "All strands (general survey)",
                        "Every surveyed strand except domestic abuse, which is a separate survey reported on its own.")
NOT_SURVEYED_TERM = Term(NOT_SURVEYED, "Not surveyed",
                         "Offences outside every survey strand (for example sexual offences, shoplifting, public "
                         "order).")

# Durham's four policing areas: the default of `SurveySettings.policing_areas` and the generator's.
AREA_TERMS = (
    Term("NORTH_DURHAM", "North Durham", "North Durham policing area."),
    Term("EAST_DURHAM", "East Durham", "East Durham policing area."),
    Term("SOUTH_DURHAM", "South Durham", "South Durham policing area."),
    Term("DARLINGTON", "Darlington", "Darlington policing area."),
)
POLICING_AREAS = codes(AREA_TERMS)
ALL_AREAS_TERM = Term(ALL, "Whole force", "Every policing area of the force together.")

# Eligibility rules in the order they apply, first match wins (domain.md section 3).
RULE_TERMS = (
    Term("OUT_OF_SCOPE", "Offence not surveyed",
         "The offence is in no survey strand (sexual offences, drugs, offences without a personal victim)."),
    Term("UNDER_AGE", "Under age",
         "The victim was younger than the minimum age (default 18) when the report was made."),
    Term("NOT_A_PERSON", "Business or organisation", "The victim is a business or organisation, not a person."),
    Term("POLICE_ON_DUTY", "Police on duty", "The victim is a police officer or staff member who was on duty."),
    Term("DECEASED", "Deceased", "The victim has died."),
    Term("SENSITIVE", "Sensitive case",
         "An officer flagged the case as sensitive or serious (for example bereavement), so the victim is not "
         "called."),
    Term("NOT_SAFE_TO_CONTACT", "Not safe to contact",
         "A domestic abuse victim for whom safe contact has not been confirmed."),
    Term("NO_PHONE", "No usable phone number", "No telephone number that can be called: this is a telephone survey."),
    Term("OPTED_OUT", "Opted out", "The victim asked not to be surveyed (matched on person or phone number)."),
    Term("RECENTLY_SURVEYED", "Surveyed in the last 12 months",
         "The victim was handed to the contractor in the previous 12 months; nobody is called twice in a year."),
    Term("DUPLICATE_IN_MONTH", "Another report that month",
         "The same person is already eligible for an earlier report in the same month; only the earliest is kept."),
)
EXCLUSION_RULES = codes(RULE_TERMS)
# Rules 10 and 11 need the earlier months' samples: sampling_frame applies them, victim_eligibility the rest.
FRAME_SCREENS = ("RECENTLY_SURVEYED", "DUPLICATE_IN_MONTH")
REPORT_RULES = tuple(r for r in EXCLUSION_RULES if r not in FRAME_SCREENS)
WINDOW_CLOSED_TERM = Term("WINDOW_CLOSED", "Contact window closed",
                          "The 8 to 12 week window after the report had closed before the hand-off was sent.")
ELIGIBLE_TERM = Term("ELIGIBLE", "Eligible", "Passed every eligibility rule and screen: in the sampling frame.")
# marts.exclusion_audit's `reason` and, in lower case and this order, survey_funnel's per-reason columns
# (written out in survey_funnel.sql/.yml; vsat_tests/test_vocabulary.py fails when they disagree with this).
REASON_TERMS = (ELIGIBLE_TERM, *RULE_TERMS, WINDOW_CLOSED_TERM)
EXCLUSION_REASONS = codes(REASON_TERMS)
# sampling_frame's `selection`: drawn or not, or screened out there (opt-outs recorded after eligibility).
FRAME_SELECTIONS = ("SAMPLED", "NOT_SAMPLED", *FRAME_SCREENS, "OPTED_OUT", WINDOW_CLOSED_TERM.code)

# The five core questions in survey order (domain.md section 4), and how the force's reports word them.
QUESTION_TERMS = (
    Term("ease_of_contact", "Ease of contact",
         "How satisfied the victim was with how easy it was to contact the police."),
    Term("actions_taken", "Actions taken", "How satisfied the victim was with the actions the police took."),
    Term("kept_informed", "Kept informed",
         "How satisfied the victim was with how well they were kept informed of progress."),
    Term("treatment", "Treatment", "How satisfied the victim was with the way the police treated them."),
    Term("whole_experience", "Whole experience",
         "How satisfied the victim was with the whole experience (the national indicator of victim satisfaction)."),
)
QUESTIONS = codes(QUESTION_TERMS)
QUESTION_PHRASES = dict(zip(QUESTIONS, (
    "the ease of contacting the police", "the actions taken by the police",
    "how well they were kept informed of progress", "the way they were treated", "the whole experience",
)))

# Outcomes of the contractor's returns (domain.md section 5).
OUTCOME_TERMS = (
    Term("COMPLETE", "Interview completed", "The victim answered the survey."),
    Term("REFUSED", "Refused", "The victim declined this survey."),
    Term("OPT_OUT", "Opted out", "The victim declined and asked never to be surveyed again; the force honours it."),
    Term("NO_CONTACT", "No contact", "The contractor could not reach the victim within the contact window."),
    Term("WRONG_NUMBER", "Wrong number", "The telephone number did not reach the victim."),
)
OUTCOMES = codes(OUTCOME_TERMS)
# The victim was reached: the return carries the interview date.
INTERVIEWED_OUTCOMES = ("COMPLETE", "REFUSED", "OPT_OUT")

# Answer codes, the seven-point scale plus don't know and not applicable (domain.md section 4).
ANSWER_TERMS = (
    Term("1", "Completely satisfied", "Satisfied: counts towards satisfied_pct and completely_or_very_pct."),
    Term("2", "Very satisfied", "Satisfied: counts towards satisfied_pct and completely_or_very_pct."),
    Term("3", "Fairly satisfied", "Satisfied: counts towards satisfied_pct."),
    Term("4", "Neither satisfied nor dissatisfied", "A valid answer that is not satisfied."),
    Term("5", "Fairly dissatisfied", "A valid answer that is not satisfied."),
    Term("6", "Very dissatisfied", "A valid answer that is not satisfied."),
    Term("7", "Completely dissatisfied", "A valid answer that is not satisfied."),
    Term("8", "Don't know", "Left out of the base."),
    Term("9", "Not applicable", "Left out of the base."),
)
ANSWER_CODES = codes(ANSWER_TERMS)

RECORD_TYPE_TERMS = (
    Term("CRIME", "Recorded crime", "A crime recorded by the force."),
    Term("ASB", "Anti-social behaviour incident", "An anti-social behaviour incident recorded by the force."),
)
RECORD_TYPES = codes(RECORD_TYPE_TERMS)
ETHNIC_GROUP_TERMS = (
    Term("WHITE", "White", "The victim described their ethnicity as white."),
    Term("ETHNIC_MINORITY", "Ethnic minority", "The victim described their ethnicity as mixed, Asian, Black or other."),
    Term("NOT_STATED", "Not stated", "The victim's ethnicity is not recorded."),
)
ETHNIC_GROUPS = codes(ETHNIC_GROUP_TERMS)


def model_variables() -> dict[str, tuple]:
    """The vocabulary as the SQL models see it: `{{ var('<name>') }}` and `accepted_values: {var: <name>}`."""
    return {
        "survey_strands": SURVEY_STRANDS,
        "report_rules": REPORT_RULES,
        "exclusion_reasons": EXCLUSION_REASONS,
        "frame_selections": FRAME_SELECTIONS,
        "outcomes": OUTCOMES,
        "ethnic_groups": ETHNIC_GROUPS,
        "record_types": RECORD_TYPES,
    }
