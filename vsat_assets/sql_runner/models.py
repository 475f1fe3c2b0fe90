"""Discover SQL models in `dbt_like_sql/`, read their dependencies from the SQL, render them.

A model is `<stage>/<name>.sql` with a sibling `<name>.yml`. The SQL may use:

- `{{ ref('other_model') }}`        -> the other model's table
- `{{ source('raw', 'reports') }}`  -> a table written by a Python asset (see `sources.yml`)
- `{{ window_start }}`, `{{ window_end }}` -> the partition window as DATE literals
- `{{ var('min_age') }}`            -> a setting, rendered as a SQL literal
- `{{ this }}`                      -> the model's own table (earlier partitions of a
                                       model built `month_by_month`)

A monthly model's YAML may also give `settled:` (a query of `month, sent_at`: the months
whose stored rows are kept as they are) and `previous_month: required` (with
`build: month_by_month`: a month is refused until the month before it is built).
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

STAGES = ("staging", "intermediate", "marts")
PARTITIONINGS = ("none", "month", "financial_year")

# libyaml's parser where installed: the pure-Python one dominates code-location load.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_JINJA = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_CALL = re.compile(r"^(ref|source|var)\(\s*(.*?)\s*\)$")
_STRING_ARG = re.compile(r"""^['"]([A-Za-z0-9_]+)['"]$""")


class ModelError(ValueError):
    """A model file that cannot be parsed or rendered; the message names the file."""


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str = ""
    data_type: str = ""
    tests: tuple = ()


@dataclass(frozen=True)
class Model:
    name: str
    stage: str
    path: Path
    sql: str
    description: str
    partitioned_by: str
    window_column: str | None
    columns: tuple[ColumnDoc, ...]
    model_tests: tuple = ()
    group: str = ""
    refs: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    owners: tuple[str, ...] = ()
    month_by_month: bool = False
    summary_sql: str | None = None
    invariants: tuple[dict, ...] = ()
    settled_sql: str | None = None
    needs_previous_month: bool = False
    code_version: str = ""  # hash of the SQL and YAML: Dagster marks the asset changed when it changes

    @property
    def table(self) -> str:
        return f"{self.stage}.{self.name}"


def _calls(sql: str, path: Path) -> list[tuple[str, list[str]]]:
    calls = []
    for expression in _JINJA.findall(sql):
        match = _CALL.match(expression)
        if match is None:
            if expression in ("window_start", "window_end", "this"):
                calls.append((expression, []))
                continue
            raise ModelError(f"{path}: cannot understand '{{{{ {expression} }}}}'")
        kind, raw_args = match.groups()
        args = []
        for raw in (a.strip() for a in raw_args.split(",")):
            arg = _STRING_ARG.match(raw)
            if arg is None:
                raise ModelError(f"{path}: {kind}() takes quoted names, got {raw!r}")
            args.append(arg.group(1))
        calls.append((kind, args))
    return calls


def load_model(path: Path) -> Model:
    sql = path.read_text(encoding="utf-8")
    doc_path = path.with_suffix(".yml")
    if not doc_path.exists():
        raise ModelError(f"{path}: missing its YAML file {doc_path.name}")
    doc_text = doc_path.read_text(encoding="utf-8")
    doc = yaml.load(doc_text, Loader=_YAML_LOADER) or {}
    partitioned_by = doc.get("partitioned_by", "none")
    if partitioned_by not in PARTITIONINGS:
        raise ModelError(f"{doc_path}: partitioned_by must be one of {PARTITIONINGS}")
    if partitioned_by != "none" and not doc.get("window_column"):
        raise ModelError(f"{doc_path}: a partitioned model needs window_column")
    if doc.get("build") == "month_by_month" and partitioned_by != "month":
        raise ModelError(f"{doc_path}: build: month_by_month needs partitioned_by: month")
    if doc.get("previous_month") not in (None, "required"):
        raise ModelError(f"{doc_path}: previous_month can only be 'required'")
    if doc.get("previous_month") and doc.get("build") != "month_by_month":
        raise ModelError(f"{doc_path}: previous_month: required needs build: month_by_month")
    if doc.get("settled") and partitioned_by != "month":
        raise ModelError(f"{doc_path}: settled: needs partitioned_by: month")
    refs, sources = set(), set()
    for kind, args in _calls(sql, path):
        if kind == "ref":
            refs.add(args[0])
        elif kind == "source":
            if len(args) != 2:
                raise ModelError(f"{path}: source() takes a schema and a table")
            sources.add((args[0], args[1]))
    columns = tuple(
        ColumnDoc(
            name=c["name"],
            description=c.get("description", ""),
            data_type=c.get("data_type", ""),
            tests=tuple(c.get("tests", ())),
        )
        for c in doc.get("columns", ())
    )
    return Model(
        name=path.stem,
        stage=path.parent.name,
        path=path,
        sql=sql,
        description=doc.get("description", "").strip(),
        partitioned_by=partitioned_by,
        window_column=doc.get("window_column"),
        columns=columns,
        model_tests=tuple(doc.get("tests", ())),
        group=doc.get("group", path.parent.name),
        refs=frozenset(refs),
        sources=frozenset(sources),
        owners=tuple(doc.get("owners", ())),
        month_by_month=doc.get("build") == "month_by_month",
        summary_sql=doc.get("summary"),
        invariants=tuple(doc.get("invariants", ())),
        settled_sql=(doc.get("settled") or {}).get("sql"),
        needs_previous_month=doc.get("previous_month") == "required",
        code_version=hashlib.sha256(f"{sql}\0{doc_text}".encode()).hexdigest()[:16],
    )


def discover_models(project_dir: Path) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for stage in STAGES:
        for path in sorted((project_dir / stage).glob("*.sql")):
            model = load_model(path)
            if model.name in models:
                raise ModelError(f"{path}: a model named {model.name} already exists")
            models[model.name] = model
    for model in models.values():
        unknown = model.refs - models.keys()
        if unknown:
            raise ModelError(f"{model.path}: ref() to unknown model(s) {sorted(unknown)}")
    return models


def load_sources(project_dir: Path) -> dict[tuple[str, str], str | None]:
    """(schema, table) -> the asset that writes it, from `sources.yml`.

    None marks a register written further down the lineage (e.g. the contact
    history, appended by the hand-off): read for history, not a dependency.
    """
    doc = yaml.load((project_dir / "sources.yml").read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    return {
        (schema, table): spec["asset"]
        for schema, tables in doc["sources"].items()
        for table, spec in tables.items()
    }


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float) and value != value:
        return "'NaN'::DOUBLE"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, dict):
        return "MAP {" + ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(sql_literal(v) for v in value) + ")"
    return "'" + str(value).replace("'", "''") + "'"


def render(
    model: Model,
    models: dict[str, Model],
    variables: dict,
    window: tuple[date, date] | None,
    sql: str | None = None,
) -> str:
    """The model's SQL (or another text of it, e.g. its summary) with every {{ }} filled in."""

    def replace(match: re.Match) -> str:
        expression = match.group(1)
        if expression == "this":
            return model.table
        if expression in ("window_start", "window_end"):
            if window is None:
                raise ModelError(f"{model.path}: {expression} used in an unpartitioned model")
            return sql_literal(window[0] if expression == "window_start" else window[1])
        kind, args = _calls("{{" + expression + "}}", model.path)[0]
        if kind == "ref":
            return models[args[0]].table
        if kind == "source":
            return f"{args[0]}.{args[1]}"
        if args[0] not in variables:
            raise ModelError(f"{model.path}: var('{args[0]}') is not set")
        return sql_literal(variables[args[0]])

    return _JINJA.sub(replace, model.sql if sql is None else sql)
