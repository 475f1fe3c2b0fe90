"""Privacy helpers: phone normalisation, pseudonyms, spreadsheet-safe cells.

Phone normalisation exists twice, in Python (the opt-out CLI) and in DuckDB SQL (the
staging model), built from the same rules and tested to agree on every input:

1. Remove separators: space, tab, '.', '-', '(' and ')'. Anything else (letters, '/',
   'ext', a second number) is left in place and makes the value unusable.
2. International form: '+44', '0044' or '44', then an optional '0' (as in
   '+44 (0)7700 900123'), then exactly 10 digits, becomes '0' + those 10 digits.
3. Usable = 11 digits starting 01, 02, 03 or 07, except 070 (personal numbers) and
   076 (pagers). Everything else (08 freephone, 09 premium, foreign, junk) is None.

Only ASCII digits and the separators above are recognised, so that the Python
(`re`) and DuckDB (RE2) versions cannot disagree on Unicode.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # polars and duckdb are imported where used: not at code-location load
    import duckdb
    import polars as pl

__all__ = [
    "DEV_PSEUDONYM_KEY",
    "PHONE_NORMALISE_SQL",
    "PseudonymKeyError",
    "neutralise_cell",
    "neutralise_expr",
    "normalise_uk_phone",
    "pseudonym",
    "register_pseudonym_function",
]

# --------------------------------------------------------------------------- phones
# The three patterns every implementation uses (no \s or \d: their Unicode meaning differs
# between engines). Each engine anchors them in its own way.
_SEPARATORS = r"[ \t.()-]"
_INTERNATIONAL = r"(?:\+44|0044|44)0?([0-9]{10})"   # group 1: the national number without its 0
_USABLE = r"0(?:[123][0-9]|7[1-57-9])[0-9]{8}"       # 01/02/03/07, not 070 or 076

_SEPARATORS_RE = re.compile(_SEPARATORS)
_INTERNATIONAL_RE = re.compile(_INTERNATIONAL)
_USABLE_RE = re.compile(_USABLE)


def normalise_uk_phone(raw: str | None) -> str | None:
    """National form without spaces ('07700900123'), or None when not a usable UK number."""
    if raw is None:
        return None
    digits = _SEPARATORS_RE.sub("", raw)
    m = _INTERNATIONAL_RE.fullmatch(digits)
    if m:
        digits = "0" + m[1]
    return digits if _USABLE_RE.fullmatch(digits) else None


def _sql_braces(pattern: str) -> str:
    return pattern.replace("{", "{{").replace("}", "}}")


# DuckDB expression; fill in with PHONE_NORMALISE_SQL.format(col="victim_phone").
# (Regex quantifier braces are doubled so that str.format leaves them alone.)
# regexp_extract returns '' on no match, which nullif turns into NULL.
PHONE_NORMALISE_SQL = (
    "nullif(regexp_extract(regexp_replace(regexp_replace(CAST({col} AS VARCHAR), "
    f"'{_SEPARATORS}', '', 'g'), "
    f"'^{_sql_braces(_INTERNATIONAL)}$', '0\\1'), "
    f"'^({_sql_braces(_USABLE)})$', 1), '')"
)


# ------------------------------------------------------------------------ pseudonyms
# Published with the code: only the demo profile may use it (vsat_assets.keys).
DEV_PSEUDONYM_KEY: bytes = b"vsat-DEVELOPMENT-ONLY-pseudonym-key-never-use-in-production"
_UNIT_SEPARATOR = "\x1f"


class PseudonymKeyError(RuntimeError):
    """The pseudonym key is missing or unsafe for the selected profile."""


def _hasher(key: bytes):
    """msg -> 'S' + 32 hex chars; the keyed HMAC state is set up once and copied per value."""
    base = hmac.new(key, digestmod=hashlib.sha256)

    def h(msg: str) -> str:
        m = base.copy()
        m.update(msg.encode("utf-8"))
        return "S" + m.hexdigest()[:32]
    return h


def pseudonym(key: bytes, *parts: str) -> str:
    """'S' + first 32 hex chars of HMAC-SHA256(key, parts joined by '\\x1f').

    A part containing '\\x1f' is refused: it would make ('a\\x1fb', 'c') and
    ('a', 'b\\x1fc') collide.
    """
    if any(_UNIT_SEPARATOR in p for p in parts):
        raise ValueError("pseudonym parts must not contain the unit separator \\x1f")
    return _hasher(key)(_UNIT_SEPARATOR.join(parts))


def register_pseudonym_function(
    conn: duckdb.DuckDBPyConnection, key: bytes, name: str = "vsat_pseudonym"
) -> str:
    """Make `name(VARCHAR, VARCHAR) -> VARCHAR` = pseudonym(key, a, b) on this connection; NULL if
    either is NULL. Returns the name of the UDF behind it.

    DuckDB keeps a Python UDF in the catalog that every connection of the process to the same file
    shares, and leaves it there, dangling, when its connection closes (a second registration under
    the same name then fails, and a call crashes). So the UDF gets a name of its own, and `name` is
    a temporary macro, which belongs to this connection alone.
    An Arrow (vectorised) UDF: DuckDB passes whole chunks, so the Python call overhead
    is per chunk, not per row.
    """
    import pyarrow as pa  # here, not at module level: the code location loads faster
    import pyarrow.compute as pc

    h = _hasher(key)
    # pa.array imports pandas the first time it runs. Let that happen here, on this thread: in a
    # DuckDB worker thread, an import that compiles code can corrupt Python 3.11's parser state
    # ("AST constructor recursion depth mismatch" at the next compile).
    pa.array([None], type=pa.string())

    def _udf(a, b):  # pyarrow arrays in, one out
        for col in (a, b):
            if pc.any(pc.match_substring(col, _UNIT_SEPARATOR)).as_py():
                raise ValueError("pseudonym parts must not contain the unit separator \\x1f")
        return pa.array(
            [None if x is None or y is None else h(f"{x}\x1f{y}")
             for x, y in zip(a.to_pylist(), b.to_pylist())],
            type=pa.string(),
        )

    udf = f"{name}_{secrets.token_hex(8)}"
    conn.create_function(
        udf, _udf, ["VARCHAR", "VARCHAR"], "VARCHAR",
        type="arrow", null_handling="special", side_effects=False,
    )
    conn.execute(f"CREATE OR REPLACE TEMP MACRO {name}(a, b) AS {udf}(a, b)")
    return udf


# ---------------------------------------------------------------- spreadsheet safety
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str | None) -> str | None:
    """Prefix a single quote to a value a spreadsheet could read as a formula (OWASP CSV injection).

    Values starting with '=', '+', '-', '@', tab or carriage return get a leading "'";
    anything else, and None, is unchanged. A phone written '+447700...' would be
    altered too, which is why the hand-off writes normalised national-form phones
    ('07700900123') that never need it.
    """
    if value is not None and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_expr(col: str) -> pl.Expr:
    """Polars expression with the same result as `neutralise_cell`."""
    import polars as pl

    c = pl.col(col)
    return pl.when(c.str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + c).otherwise(c).alias(col)
