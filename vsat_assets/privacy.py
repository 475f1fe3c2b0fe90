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
    "drop_pseudonym_function",
    "hmac_pads",
    "hmac_sha256_sql",
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
# The separators are removed with translate (a character map, several times cheaper than a
# regex replace); _SEPARATORS_SQL deletes exactly the characters of _SEPARATORS.
_SEPARATORS_SQL = "' ' || chr(9) || '.()-'"
PHONE_NORMALISE_SQL = (
    "nullif(regexp_extract(regexp_replace(translate(CAST({col} AS VARCHAR), "
    f"{_SEPARATORS_SQL}, ''), "
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


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer pads of `key` (RFC 2104): the key, hashed first when longer
    than SHA-256's 64-byte block, padded with zeros to the block, XOR 0x36 and XOR 0x5c."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def register_pseudonym_function(
    conn: duckdb.DuckDBPyConnection, key: bytes, name: str = "vsat_pseudonym"
) -> str:
    """Make `name(VARCHAR, VARCHAR) -> VARCHAR` = pseudonym(key, a, b) on this connection; NULL if
    either is NULL; an error if either holds the unit separator. Returns `name`.

    Computed by DuckDB itself, vectorised: HMAC-SHA256(key, m) = SHA256(outer pad || SHA256(inner
    pad || m)), from DuckDB's sha256 and unhex. The pads are set as this connection's variables
    through query parameters, so no SQL text (which may be logged) ever holds key material; the
    macro and the variables belong to this connection alone.
    """
    inner, outer = hmac_pads(key)
    conn.execute(f"SET VARIABLE {name}_inner_pad = ?", [inner])
    conn.execute(f"SET VARIABLE {name}_outer_pad = ?", [outer])
    conn.execute(
        f"""CREATE OR REPLACE TEMP MACRO {name}(a, b) AS
            CASE WHEN contains(a, chr(31)) OR contains(b, chr(31))
                 THEN error('pseudonym parts must not contain the unit separator \\x1f')
                 ELSE 'S' || left({hmac_sha256_sql(name, "encode(a || chr(31) || b)")}, 32)
            END"""
    )
    return name


def hmac_sha256_sql(name: str, message: str) -> str:
    """DuckDB expression: HMAC-SHA256 as 64 lowercase hex characters of the BLOB expression
    `message`, under the pads register_pseudonym_function(conn, key, name) set on the connection."""
    return (f"sha256(getvariable('{name}_outer_pad') "
            f"|| unhex(sha256(getvariable('{name}_inner_pad') || {message})))")


def drop_pseudonym_function(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Remove what register_pseudonym_function(conn, key, name) made, the key's pads included."""
    conn.execute(f"DROP MACRO IF EXISTS {name}")
    conn.execute(f"RESET VARIABLE {name}_inner_pad")
    conn.execute(f"RESET VARIABLE {name}_outer_pad")


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
