"""Issue 21: pseudonyms computed by DuckDB (HMAC-SHA256 from sha256/unhex over the key's pads)
are byte-for-byte the survey_ids Python's hmac gives, and no per-row Python is left.

Complements test_privacy.py's edge cases: the RFC 4231 vectors through the very SQL the macro
uses, keys not valid UTF-8 that go into the pads unhashed, SHA-256 padding boundaries,
backslashes and NUL, and a million varied values compared in SQL.
"""

import hashlib
import hmac

import duckdb
import pyarrow as pa
import pytest

from vsat_assets.privacy import (
    DEV_PSEUDONYM_KEY,
    hmac_sha256_sql,
    pseudonym,
    register_pseudonym_function,
)


def survey_id(key: bytes, a: str, b: str) -> str:
    """How the platform derives a survey_id, from Python's hmac alone: 'S' + the first 32 hex
    characters (128 bits) of HMAC-SHA256(key, a '\\x1f' b)."""
    return "S" + hmac.new(key, f"{a}\x1f{b}".encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def connection(key: bytes, name: str = "vsat_pseudonym") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_pseudonym_function(con, key, name)
    return con


# RFC 4231 section 4 (HMAC-SHA-256): key, data, expected output (case 5 is truncated to 128
# bits, exactly the survey_id's length).
RFC_4231 = {
    "1": (b"\x0b" * 20, b"Hi There",
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    "2": (b"Jefe", b"what do ya want for nothing?",
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    "3": (b"\xaa" * 20, b"\xdd" * 50,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    "4": (bytes(range(1, 26)), b"\xcd" * 50,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    "5-truncated": (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    "6-key-over-block": (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
                         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    "7-key-and-data-over-block": (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
}


@pytest.mark.parametrize("case", RFC_4231)
def test_rfc_4231_vectors_through_the_macros_sql(case):
    key, data, expected = RFC_4231[case]
    con = connection(key)
    got = con.execute(f"SELECT {hmac_sha256_sql('vsat_pseudonym', '?::BLOB')}", [data]).fetchone()[0]
    assert got[:len(expected)] == expected
    assert got == hmac.new(key, data, hashlib.sha256).hexdigest()


# Keys: shorter than, equal to and longer than the 64-byte block; bytes that are not valid
# UTF-8 both in a key used as it is (<= 64 bytes) and in one hashed first.
KEYS = {
    "1-byte": b"\x00",
    "short-not-utf8": b"\x80\xfe\xff\xc3(",
    "63-byte": bytes(range(63)),
    "64-byte-not-utf8": bytes(range(128, 192)),
    "65-byte": bytes(range(65)),
    "131-byte-not-utf8": b"\xff\xc0\x80" * 43 + b"\xfe\xfe",
    "dev": DEV_PSEUDONYM_KEY,
}
# The message is a '\x1f' b: lengths around SHA-256's padding boundaries (55/56 bytes, one
# 64-byte block, two blocks) and far beyond.
LENGTHS = [0, 1, 53, 54, 55, 56, 62, 63, 64, 65, 118, 119, 127, 128, 129, 1000, 100_000]
PARTS = [("", "")] + [("x" * n, "") for n in LENGTHS] + [("", "y" * n) for n in LENGTHS] + [
    ("é" * 30, "€" * 11),            # 2- and 3-byte UTF-8 across the block boundary
    ("😀" * 16, "𝄞"),                # non-BMP (4-byte UTF-8, surrogate pairs in UTF-16)
    ("e\u0301", "\u00e9"),           # combining accent vs precomposed: different pseudonyms
    ("\ufeffBOM", "\u200bzero-width"),
    ("back\\slash\\", "\\"),
    ("quote'", "'"), ('"double"', "''"),
    ("nul\x00inside", "\x00"),
    ("tab\tand\r\nline", "%_*?[]"),
    ("DUR/DUR-P00000042", "DUR/C/2025-04/000001"),
]


@pytest.mark.parametrize("key", KEYS.values(), ids=list(KEYS))
def test_sql_survey_ids_equal_python_hmac_on_edge_cases(key):
    con = connection(key)
    table = pa.table({"i": range(len(PARTS)), "a": [a for a, _ in PARTS], "b": [b for _, b in PARTS]})
    con.register("parts", table)
    got = [r[0] for r in con.execute("SELECT vsat_pseudonym(a, b) FROM parts ORDER BY i").fetchall()]
    assert got == [survey_id(key, a, b) for a, b in PARTS]
    assert got == [pseudonym(key, a, b) for a, b in PARTS]
    # Parameters and literals reach the same bytes as Arrow columns.
    assert con.execute("SELECT vsat_pseudonym(?, ?)", ["nul\x00inside", "back\\slash"]).fetchone()[0] \
        == survey_id(key, "nul\x00inside", "back\\slash")
    assert con.execute("SELECT vsat_pseudonym('it''s', 'a\\b')").fetchone()[0] == survey_id(key, "it's", "a\\b")
    assert len(set(got)) == len(set(PARTS))
    assert con.execute("SELECT vsat_pseudonym(NULL, 'x'), vsat_pseudonym('x', NULL), "
                       "vsat_pseudonym(NULL, NULL), vsat_pseudonym(NULL::VARCHAR, '')").fetchone() \
        == (None, None, None, None)


def test_a_million_varied_values_match_python_compared_in_sql():
    """Varied lengths (0-300 bytes, across the block boundaries) and scripts; Python's hmac
    computes the expected ids once, DuckDB counts the mismatches."""
    con = connection(DEV_PSEUDONYM_KEY)
    values = con.sql(
        """SELECT i,
                  CASE i % 5 WHEN 0 THEN '' WHEN 1 THEN 'DUR/DUR-P' || lpad(i::VARCHAR, 8, '0')
                             WHEN 2 THEN repeat('é', i % 97) WHEN 3 THEN repeat('😀', i % 41) || i::VARCHAR
                             ELSE repeat('x', i % 301) END AS a,
                  'DUR/C/2025-04/' || (i * 7919)::VARCHAR || repeat('\\', i % 3) AS b
           FROM range(1000000) r(i)""").to_arrow_table()
    base = hmac.new(DEV_PSEUDONYM_KEY, digestmod=hashlib.sha256)

    def expected(a: str, b: str) -> str:
        m = base.copy()
        m.update(f"{a}\x1f{b}".encode("utf-8"))
        return "S" + m.hexdigest()[:32]

    ids = [expected(a, b) for a, b in zip(values["a"].to_pylist(), values["b"].to_pylist())]
    con.register("expected", values.append_column("survey_id", pa.array(ids, pa.string())))
    total, mismatches = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE vsat_pseudonym(a, b) IS DISTINCT FROM survey_id) FROM expected"
    ).fetchone()
    assert (total, mismatches) == (1_000_000, 0)


def test_no_python_udf_is_registered_for_pseudonyms():
    """The pipeline's connection (prepare_connection) adds only SQL macros to a fresh
    connection's functions: none registered from Python, so no per-row Python call. (DuckDB lists
    a Python UDF as an internal scalar function, so the check compares with a fresh connection;
    that it would catch one is checked at the end.)"""
    from vsat_assets.sql_project import prepare_connection

    functions = "SELECT function_name, function_type FROM duckdb_functions()"
    fresh = set(duckdb.connect().execute(functions).fetchall())
    con = duckdb.connect()
    prepare_connection(con, DEV_PSEUDONYM_KEY)
    added = set(con.execute(functions).fetchall()) - fresh
    assert ("vsat_pseudonym", "macro") in added
    assert {kind for _, kind in added} == {"macro"}, added
    plan = " ".join(str(r) for r in con.execute(
        "EXPLAIN SELECT vsat_pseudonym('a', i::VARCHAR) FROM range(10) r(i)").fetchall())
    assert "sha256" in plan.lower() and "python" not in plan.lower()

    con.create_function("a_python_udf", lambda s: s, [str], str)
    assert ("a_python_udf", "scalar") in set(con.execute(functions).fetchall()) - fresh


def test_phones_are_normalised_once_in_staging_and_reused():
    """Issue 21: phone normalisation and every regex run once per report. Only stg_reports (a
    table built once per month) calls normalise_uk_phone or a regex function; later stages
    read its phone_normalised column."""
    import re
    from pathlib import Path

    from vsat_assets.sql_project import PROJECT_DIR

    regex_calls = re.compile(r"\b(normalise_uk_phone|regexp_\w+|similar\s+to)\b|~", re.IGNORECASE)
    callers = {str(p.relative_to(PROJECT_DIR)) for p in Path(PROJECT_DIR).rglob("*.sql")
               if regex_calls.search("\n".join(line.split("--")[0] for line in p.read_text().splitlines()))}
    assert callers == {"staging/stg_reports.sql"}
    readers = {str(p.relative_to(PROJECT_DIR)) for p in Path(PROJECT_DIR).rglob("*.sql")
               if "phone_normalised" in p.read_text()}
    assert {"intermediate/victim_eligibility.sql", "intermediate/sampled_cohort.sql"} <= readers
