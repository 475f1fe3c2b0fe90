"""One vocabulary: the domain's codes are defined in vsat_assets/vocabulary.py and nowhere else."""

import ast
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from vsat_assets import lookups
from vsat_assets import vocabulary as v
from vsat_assets.defs.raw_reports.generator import check_catalogue_codes, load_offence_catalogue
from vsat_assets.resources import SurveySettings
from vsat_assets.sql_runner import column_tests
from vsat_assets.sql_runner.models import discover_models

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "dbt_like_sql"

# The lists a module must take from the vocabulary rather than write out.
KINDS = {
    "strand": set(v.SURVEY_STRANDS),
    "area": set(v.POLICING_AREAS),
    "exclusion reason": set(v.EXCLUSION_REASONS),
    "question": set(v.QUESTIONS),
    "outcome": set(v.OUTCOMES),
    "ethnic group": set(v.ETHNIC_GROUPS),
}
_QUOTED_RUN = re.compile(r"""(['"])[A-Za-z_]+\1(?:\s*,\s*(['"])[A-Za-z_]+\2)+""")
_QUOTED = re.compile(r"""['"]([A-Za-z_]+)['"]""")


def test_the_vocabulary_is_the_domains():
    """The contract codes of domain.md sections 2-5, in the domain's order."""
    assert v.SURVEY_STRANDS == ("BURGLARY", "VEHICLE", "VIOLENCE", "CRIMINAL_DAMAGE", "HARASSMENT", "FRAUD",
                                "HATE", "ASB", "DOMESTIC_ABUSE")
    assert v.GENERAL_STRANDS == v.SURVEY_STRANDS[:-1]
    assert v.EXCLUSION_RULES == ("OUT_OF_SCOPE", "UNDER_AGE", "NOT_A_PERSON", "POLICE_ON_DUTY", "DECEASED",
                                 "SENSITIVE", "NOT_SAFE_TO_CONTACT", "NO_PHONE", "OPTED_OUT",
                                 "RECENTLY_SURVEYED", "DUPLICATE_IN_MONTH")
    assert v.EXCLUSION_REASONS == ("ELIGIBLE", *v.EXCLUSION_RULES, "WINDOW_CLOSED")
    assert v.REPORT_RULES + v.FRAME_SCREENS == v.EXCLUSION_RULES
    assert v.QUESTIONS == ("ease_of_contact", "actions_taken", "kept_informed", "treatment", "whole_experience")
    assert v.OUTCOMES == ("COMPLETE", "REFUSED", "OPT_OUT", "NO_CONTACT", "WRONG_NUMBER")
    assert set(v.INTERVIEWED_OUTCOMES) < set(v.OUTCOMES)
    assert v.ANSWER_CODES == tuple(str(code) for code in range(1, 10))
    assert v.POLICING_AREAS == ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")
    assert set(v.QUESTION_PHRASES) == set(v.QUESTIONS)
    every_term = [*v.STRAND_TERMS, *v.AREA_TERMS, *v.REASON_TERMS, *v.QUESTION_TERMS, *v.OUTCOME_TERMS,
                  *v.ANSWER_TERMS, *v.RECORD_TYPE_TERMS, *v.ETHNIC_GROUP_TERMS]
    assert all(term.label and term.definition for term in every_term)


def test_method_page_lists_the_reasons_in_rule_order():
    method = (ROOT / "docs" / "method.md").read_text()
    table = method.split("## Eligibility", 1)[1].split("\n## ", 1)[0]
    in_table = re.findall(r"^\|[^|]*\| `([A-Z_]+)` \|", table, flags=re.M)
    assert tuple(in_table) == (*v.EXCLUSION_RULES, "WINDOW_CLOSED")


def _hard_coded_lists(text: str) -> list[tuple[str, str]]:
    """(kind, the list as written) for each quoted list naming three or more codes of one kind."""
    found = []
    for run in _QUOTED_RUN.finditer(text):
        words = set(_QUOTED.findall(run.group(0)))
        found += [(kind, run.group(0)[:80]) for kind, known in KINDS.items() if len(words & known) >= 3]
    return found


def _python_lists(source: str) -> list[tuple[str, str]]:
    """Tuple, list and set literals of three or more codes of one kind (however they are quoted)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            found += [(kind, ast.unparse(node)[:80]) for kind, known in KINDS.items() if len(words & known) >= 3]
    return found


def _yaml_value_lists(doc) -> list[tuple[str, str]]:
    """YAML lists (accepted_values and the like) of three or more codes of one kind."""
    found = []
    if isinstance(doc, dict):
        for value in doc.values():
            found += _yaml_value_lists(value)
    elif isinstance(doc, list):
        words = {item for item in doc if isinstance(item, str)}
        found += [(kind, str(doc)[:80]) for kind, known in KINDS.items() if len(words & known) >= 3]
        for item in doc:
            found += _yaml_value_lists(item)
    return found


def test_the_scanners_find_a_list_written_out():
    assert _hard_coded_lists("ORDER BY list_position(['ease_of_contact', 'actions_taken', 'treatment'], q)")
    assert _python_lists("AREAS = ('NORTH_DURHAM', \"EAST_DURHAM\", 'DARLINGTON')")
    assert _yaml_value_lists(yaml.safe_load("tests: [{accepted_values: {values: [COMPLETE, REFUSED, OPT_OUT]}}]"))
    assert not _python_lists("BOTH = ('WHITE', 'ETHNIC_MINORITY')")


def test_no_other_module_writes_the_lists_out():
    offenders = []
    python = [p for p in [*(ROOT / "vsat_assets").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
              if p.name != "vocabulary.py"]
    for path in python:
        source = path.read_text()
        offenders += [(path, *hit) for hit in _python_lists(source) + _hard_coded_lists(source)]
    for path in SQL_DIR.rglob("*.sql"):
        offenders += [(path, *hit) for hit in _hard_coded_lists(path.read_text())]
    for path in SQL_DIR.rglob("*.yml"):
        offenders += [(path, *hit) for hit in _yaml_value_lists(yaml.safe_load(path.read_text()))]
    assert not offenders, "lists written out instead of taken from vsat_assets/vocabulary.py:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {kind}: {text}" for path, kind, text in offenders)


def test_the_models_accepted_values_are_the_vocabularys():
    variables = SurveySettings().model_vars()
    models = discover_models(SQL_DIR)
    accepted = {(name, t.column): t.argument["var"] for name, model in models.items() for t in column_tests.tests_for(model)
                if t.kind == "accepted_values" and isinstance(t.argument, dict) and "var" in t.argument}
    assert accepted[("exclusion_audit", "reason")] == "exclusion_reasons"
    assert accepted[("victim_eligibility", "exclusion_reason")] == "report_rules"
    assert accepted[("responses", "outcome")] == "outcomes"
    for model in ("stg_reports", "eligible_victims", "responses"):
        assert accepted[(model, "survey_strand")] == "survey_strands"
    assert all(var in variables for var in accepted.values())
    assert variables["exclusion_reasons"] == v.EXCLUSION_REASONS
    assert variables["survey_strands"] == v.SURVEY_STRANDS
    assert variables["outcomes"] == v.OUTCOMES


def test_the_sql_applies_every_rule_in_rule_order():
    gated = re.compile(r"when '([A-Z_]+)' in \{\{ var\('exclusion_rules'\) \}\}")
    eligibility = gated.findall((SQL_DIR / "intermediate" / "victim_eligibility.sql").read_text())
    frame = gated.findall((SQL_DIR / "intermediate" / "sampling_frame.sql").read_text())
    assert tuple(eligibility) == v.REPORT_RULES
    assert tuple(r for r in frame if r in v.FRAME_SCREENS) == v.FRAME_SCREENS


def test_survey_funnel_has_one_column_per_reason_in_order():
    sql = (SQL_DIR / "marts" / "survey_funnel.sql").read_text()
    counted = re.findall(r"filter \(where reason = '([A-Z_]+)'\) as ([a-z_]+)", sql)
    selected = re.findall(r"coalesce\(audit\.([a-z_]+), 0\)::BIGINT as \1", sql)
    columns = [c["name"] for c in yaml.safe_load((SQL_DIR / "marts" / "survey_funnel.yml").read_text())["columns"]]
    per_reason = [r.lower() for r in v.EXCLUSION_REASONS]
    assert counted == [(r, r.lower()) for r in v.EXCLUSION_REASONS]
    assert selected == ["reports", *per_reason]
    assert columns[columns.index("reports") + 1:columns.index("sampled")] == per_reason


def test_lookups_publish_the_vocabulary_in_order():
    rows = lookups.lookups()
    by_kind = {kind: [r.code for r in rows if r.kind == kind] for kind in {r.kind for r in rows}}
    assert by_kind["strand"] == [v.ALL, *v.SURVEY_STRANDS, v.NOT_SURVEYED]
    assert by_kind["area"] == [v.ALL, *v.POLICING_AREAS]
    assert by_kind["exclusion_reason"] == list(v.EXCLUSION_REASONS)
    assert by_kind["question"] == list(v.QUESTIONS)
    assert by_kind["outcome"] == list(v.OUTCOMES)
    assert by_kind["answer_code"] == list(v.ANSWER_CODES)


def test_offence_catalogue_maps_to_the_vocabularys_strands():
    catalogue = load_offence_catalogue()
    assert set(catalogue["survey_strand"].drop_nulls()) == set(v.GENERAL_STRANDS)
    misspelt = catalogue.with_columns(
        pl.when(pl.col("offence_code") == catalogue["offence_code"][3]).then(pl.lit("HARASMENT"))
        .otherwise(pl.col("survey_strand")).alias("survey_strand"))
    with pytest.raises(ValueError, match=r"offences\.csv, line 5, column survey_strand: 'HARASMENT' is not one of"):
        check_catalogue_codes(misspelt, "offences.csv")
