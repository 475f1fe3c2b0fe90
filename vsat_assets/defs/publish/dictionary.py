"""The data dictionary of the marts, read from the assets that write them: each asset's
description and its `dagster/column_schema` (for SQL models, their YAML docs)."""

from dataclasses import dataclass

from dagster import AssetsDefinition


@dataclass(frozen=True)
class TableDoc:
    table: str                                 # e.g. marts.satisfaction_annual
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, type, description)


def marts_documentation(assets: list[AssetsDefinition]) -> dict[str, TableDoc]:
    docs = {}
    for assets_def in assets:
        for spec in assets_def.specs:
            table = str(spec.metadata.get("dagster/table_name", ""))
            if not table.startswith("marts."):
                continue
            schema = spec.metadata.get("dagster/column_schema")
            columns = tuple((c.name, c.type, c.description or "") for c in schema.columns) if schema else ()
            docs[table.split(".", 1)[1]] = TableDoc(table, " ".join((spec.description or "").split()), columns)
    return docs


def as_markdown(docs: dict[str, TableDoc], tiers: dict[str, str] | None = None) -> str:
    """Each table's section; `tiers` adds where it is published (table -> sentence)."""
    parts = []
    for name in sorted(docs):
        doc = docs[name]
        tier = f"\n\n**{tiers[name]}**" if tiers and name in tiers else ""
        parts.append(f"#### `{doc.table}`\n\n{doc.description}{tier}\n\n| column | type | meaning |\n|---|---|---|")
        parts += [f"| `{c}` | {t} | {d} |" for c, t, d in doc.columns]
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
