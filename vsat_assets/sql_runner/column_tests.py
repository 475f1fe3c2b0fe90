"""YAML column and model tests turned into SQL that counts failing rows."""

from dataclasses import dataclass

from vsat_assets.sql_runner.models import Model, ModelError, sql_literal

KNOWN_TESTS = ("not_null", "unique", "accepted_values", "unique_combination", "expression_is_true")


@dataclass(frozen=True)
class ColumnTest:
    name: str          # the asset check's name, e.g. 'not_null__survey_id'
    kind: str
    column: str | None
    argument: object
    blocking: bool

    def description(self) -> str:
        if self.kind == "unique_combination":
            return f"({', '.join(self.argument)}) is unique"
        if self.kind == "expression_is_true":
            return f"`{self.argument}` holds for every row"
        verb = {"not_null": "is never null", "unique": "is unique", "accepted_values": "takes only the accepted values"}
        return f"`{self.column}` {verb[self.kind]}"

    def failing_rows_sql(self, table: str, scope: str, variables: dict) -> str:
        rows = f"SELECT * FROM {table} WHERE {scope}"
        if self.kind == "not_null":
            return f"SELECT count(*) FROM ({rows}) WHERE {self.column} IS NULL"
        if self.kind in ("unique", "unique_combination"):
            # Like dbt: nulls are not compared, so a column may be unique where set.
            cols = [self.column] if self.kind == "unique" else list(self.argument)
            present = " AND ".join(f"{c} IS NOT NULL" for c in cols) if self.kind == "unique" else "true"
            return (
                f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM ({rows}) "
                f"WHERE {present} GROUP BY {', '.join(cols)} HAVING count(*) > 1)"
            )
        if self.kind == "accepted_values":
            values = self.argument
            if isinstance(values, dict):
                values = values["values"] if "values" in values else variables[values["var"]]
            if isinstance(values, str):
                values = [values]
            if not values:
                return f"SELECT count(*) FROM ({rows}) WHERE {self.column} IS NOT NULL"
            return (
                f"SELECT count(*) FROM ({rows}) "
                f"WHERE {self.column} IS NOT NULL AND {self.column} NOT IN {sql_literal(list(values))}"
            )
        return f"SELECT count(*) FROM ({rows}) WHERE NOT coalesce(({self.argument}), false)"


def _parse(spec, column: str | None, model: Model) -> ColumnTest:
    if isinstance(spec, str):
        kind, argument = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        kind, argument = next(iter(spec.items()))
    else:
        raise ModelError(f"{model.path.with_suffix('.yml')}: cannot read test {spec!r}")
    if kind not in KNOWN_TESTS:
        raise ModelError(f"{model.path.with_suffix('.yml')}: unknown test '{kind}', expected one of {KNOWN_TESTS}")
    blocking = True
    if isinstance(argument, dict) and "severity" in argument:
        blocking = argument["severity"] != "warn"
        argument = {k: v for k, v in argument.items() if k != "severity"} or None
    if kind == "unique_combination":
        name = f"unique_combination__{'__'.join(argument)}"
    elif kind == "expression_is_true":
        if not (isinstance(argument, dict) and {"name", "expression"} <= argument.keys()):
            raise ModelError(f"{model.path.with_suffix('.yml')}: expression_is_true needs a name and an expression")
        name, argument = argument["name"], argument["expression"]
    else:
        name = f"{kind}__{column}"
    return ColumnTest(name=name, kind=kind, column=column, argument=argument, blocking=blocking)


def tests_for(model: Model) -> list[ColumnTest]:
    tests = [_parse(spec, column.name, model) for column in model.columns for spec in column.tests]
    tests += [_parse(spec, None, model) for spec in model.model_tests]
    names = [t.name for t in tests]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ModelError(f"{model.path.with_suffix('.yml')}: tests with the same name {sorted(duplicated)}")
    return tests
