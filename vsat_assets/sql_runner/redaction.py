"""Error messages with the data's values hidden and the SQL's names kept.

DuckDB quotes values in single quotes ('AB/123/24', not escaping a quote inside), names and
some values in double quotes ("survey_id", "2023-13-45"), prints numbers bare, and may repeat
a value on a line of its own. A model's data may be personal, and error messages go to the
Dagster event log, so every value goes; what stays is what the runner can name (words of the
model's SQL, the warehouse's tables and columns), DuckDB's wording, and the SQL it points at.
"""

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

HIDDEN = "…"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# A quote opens after a non-word and closes before one, so O'Brien inside a value stays inside.
_SINGLE_QUOTED = re.compile(r"(?<![\w'])'.*?'(?![\w'])", re.S)
_DOUBLE_QUOTED = re.compile(r'(?<![\w"])"(.*?)"(?![\w"])', re.S)
# A date, time or number standing alone (not part of a word such as INT32 or stg_2024).
_BARE_VALUE = re.compile(r"(?<![\w.$])[-+]?\d[\d:\-./]*(?:[ T]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)?(?![\w$])")
_LINE = re.compile(r"\bLINE (\d+):")
# Lines after the first that DuckDB writes itself; any other line may be a value, and goes.
_OWN_LINE = re.compile(r"^(LINE \d+:|\s*\^+\s*$|Candidate bindings:|Did you mean|Error:|HINT:|$)")


def known_identifiers(conn: "duckdb.DuckDBPyConnection", sql: str = "") -> frozenset[str]:
    """The words of `sql` outside its literals, and every schema, table and column name."""
    import duckdb
    names = set(_IDENTIFIER.findall(_SINGLE_QUOTED.sub(" ", sql)))
    try:
        for row in conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
        ).fetchall():
            names.update(row)
    except duckdb.Error:  # an aborted connection: the SQL's words only
        pass
    return frozenset(names)


def _keep_if_identifier(match: re.Match, identifiers: Collection[str]) -> str:
    parts = match.group(1).split(".")
    if all(part in identifiers for part in parts):
        return match.group(0)
    return f'"{HIDDEN}"'


def hide_literals(message: str, identifiers: Collection[str]) -> str:
    """`message` with quoted values, numbers and dates replaced by …; quoted names in
    `identifiers` (case as written) and the unquoted words of the message are kept."""
    # Quotes first: a quoted value may span lines.
    message = _SINGLE_QUOTED.sub(f"'{HIDDEN}'", message)
    message = _DOUBLE_QUOTED.sub(lambda m: _keep_if_identifier(m, identifiers), message)
    first, *rest = message.split("\n")
    message = "\n".join([first, *(line if _OWN_LINE.match(line) else HIDDEN for line in rest)])
    lines = _LINE.findall(message)
    message = _BARE_VALUE.sub(HIDDEN, _LINE.sub("LINE :", message))
    for number in lines:  # DuckDB's "LINE 3:" points into our SQL, not into the data
        message = message.replace("LINE :", f"LINE {number}:", 1)
    return message
