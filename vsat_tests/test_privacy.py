import hashlib
import hmac
import time

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsat_assets.keys import KeyMismatchError, check_against_warehouse, fingerprint, key_ring_from_env
from vsat_assets.privacy import (
    DEV_PSEUDONYM_KEY,
    PHONE_NORMALISE_SQL,
    PseudonymKeyError,
    neutralise_cell,
    neutralise_expr,
    normalise_uk_phone,
    drop_pseudonym_function,
    hmac_pads,
    pseudonym,
    register_pseudonym_function,
)

# ----------------------------------------------------------------------------- phones
MOBILE_FORMS = [
    "07700 900123", "07700900123", "+447700900123", "+44 (0)7700 900 123",
    "0044 7700 900123", "07700-900-123", "(07700) 900123", "07700.900.123",
    "447700900123", "+44 07700 900123", " 07700 900123 ", "\t07700\t900123",
]
JUNK = [
    "", " ", "unknown", "n/a", "N/A", "000", "0", "none", "-", "07700", "+44",
    "0770090012", "077009001234", "7700900123",             # too short / long / no 0
    "08001111111", "09098790123", "07000123456", "07624123456",  # freephone, premium, 070, 076
    "04123456789", "05123456789", "+3531234567890", "+1 202 555 0143",
    "07700 900123 ext 4", "07700900123/07700900124", "07700+900123", "+07700900123",
    "tel 07700900123", "07700900123\n", "０７７００９００１２３",   # full-width digits
    "44 (0) 7700 90012", "+44 (0)7700 900 1234", "4407700900123X",
]


def sql_normalise(values: list[str | None]) -> list[str | None]:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {PHONE_NORMALISE_SQL.format(col='phone')} "
        "FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(phone, i) ORDER BY i",
        [values],
    ).fetchall()
    return [r[0] for r in rows]


def assert_engines_agree(values: list[str | None]) -> None:
    expected = [normalise_uk_phone(v) for v in values]
    assert sql_normalise(values) == expected


@pytest.mark.parametrize("raw", MOBILE_FORMS)
def test_mobile_forms_normalise(raw):
    assert normalise_uk_phone(raw) == "07700900123"


@pytest.mark.parametrize("raw", ["(0191) 498 0123", "01914980123", "+44 191 498 0123", "0191-498-0123"])
def test_landline_normalises(raw):
    assert normalise_uk_phone(raw) == "01914980123"


@pytest.mark.parametrize("raw", ["020 7946 0123", "0300 123 4567", "07911 123456"])
def test_other_usable_prefixes(raw):
    assert normalise_uk_phone(raw) == "".join(c for c in raw if c.isdigit())


@pytest.mark.parametrize("raw", JUNK + [None])
def test_junk_is_none(raw):
    assert normalise_uk_phone(raw) is None


def test_engines_agree_on_fixed_corpus():
    assert_engines_agree(MOBILE_FORMS + JUNK + [None, "(0191) 498 0123"])


# A valid national number, then written in one of the messy ways call handlers type it.
_prefixes = st.sampled_from(["01", "02", "03", "071", "073", "074", "075", "077", "078", "079"])
national_numbers = st.builds(
    lambda p, rest: (p + rest)[:11], _prefixes, st.text("0123456789", min_size=10, max_size=10)
)
_seps = st.sampled_from(["", "", "", " ", "  ", "-", ".", "\t", "(", ")"])


@st.composite
def messy_valid(draw):
    national = draw(national_numbers)
    lead = draw(st.sampled_from(["0", "+44", "+44 (0)", "+44(0) ", "0044 ", "0044", "44", "+44 0", "(0)"]))
    digits = [draw(_seps) + d for d in national[1:]]
    text = draw(st.sampled_from(["", " "])) + lead + draw(_seps) + "".join(digits) + draw(_seps)
    return national, text


junk = st.one_of(
    st.text(alphabet="0123456789+() .-\t/x#", max_size=18),
    st.text(max_size=15),
    national_numbers.map(lambda n: n[:-1]),          # one digit short
    national_numbers.map(lambda n: n + "5"),          # one digit long
    st.builds(lambda d: "0" + d + "1234567890"[:9], st.sampled_from("0456789")),  # bad ranges
)
phone_inputs = st.one_of(messy_valid().map(lambda pair: pair[1]), junk, st.none())


@given(messy_valid())
def test_messy_formats_of_valid_numbers_normalise(pair):
    national, text = pair
    assert normalise_uk_phone(text) == national


@settings(max_examples=200, deadline=None)
@given(st.lists(phone_inputs, min_size=1, max_size=60))
def test_python_sql_polars_agree(values):
    assert_engines_agree(values)


# ------------------------------------------------------------------------- pseudonyms
KEY = b"test-key-0123456789abcdef"


def test_pseudonym_format_and_stability():
    p = pseudonym(KEY, "DUR", "person-42")
    assert p == pseudonym(KEY, "DUR", "person-42")
    assert len(p) == 33 and p[0] == "S" and all(c in "0123456789abcdef" for c in p[1:])


def test_pseudonym_depends_on_key_and_parts():
    p = pseudonym(KEY, "DUR", "person-42")
    assert p != pseudonym(b"another-key", "DUR", "person-42")
    assert p != pseudonym(KEY, "DUR", "person-43")
    assert p != pseudonym(KEY, "DURperson-42")
    assert pseudonym(KEY, "ab", "c") != pseudonym(KEY, "a", "bc")


def test_pseudonym_refuses_unit_separator_in_parts():
    with pytest.raises(ValueError):
        pseudonym(KEY, "a\x1fb", "c")


# Eight characters at least: a shorter hex-like input ('000') turns up in a 64-digit hash by chance.
@given(st.text(min_size=8, max_size=20).filter(lambda s: "\x1f" not in s),
       st.text(min_size=8, max_size=20).filter(lambda s: "\x1f" not in s))
def test_pseudonym_never_contains_inputs(a, b):
    p = pseudonym(KEY, a, b)
    assert a not in p and b not in p


REAL_KEY = "a-real-secret-of-at-least-32-bytes-0123456789"


def _key_env(monkeypatch, profile=None, key=None, old=None):
    for name, value in (("VSAT_PROFILE", profile), ("VSAT_PSEUDONYM_KEY", key), ("VSAT_PSEUDONYM_OLD_KEYS", old)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_only_the_demo_profile_runs_on_the_built_in_key(monkeypatch):
    _key_env(monkeypatch, profile="demo")
    ring = key_ring_from_env()
    assert (ring.current, ring.is_demo_key) == (DEV_PSEUDONYM_KEY, True)
    _key_env(monkeypatch, profile="demo", key=REAL_KEY)
    assert key_ring_from_env().current == REAL_KEY.encode()
    for profile in (None, "", "production", "development"):
        _key_env(monkeypatch, profile=profile, key=REAL_KEY)
        assert key_ring_from_env().current == REAL_KEY.encode()


@pytest.mark.parametrize("profile", [None, "production", "development", "Demo"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_outside_the_demo_profile_a_missing_key_refuses_to_start(monkeypatch, profile, value):
    _key_env(monkeypatch, profile=profile, key=value)
    with pytest.raises(PseudonymKeyError, match="VSAT_PSEUDONYM_KEY is not set.*VSAT_PROFILE=demo"):
        key_ring_from_env()


@pytest.mark.parametrize("profile", [None, "demo", "production"])
@pytest.mark.parametrize("key, old, problem", [
    ("a", None, "VSAT_PSEUDONYM_KEY is 1 bytes long; a pseudonym key needs at least 32"),
    ("x" * 31, None, "is 31 bytes long"),
    (DEV_PSEUDONYM_KEY.decode(), None, "VSAT_PSEUDONYM_KEY is the built-in demo key"),
    (REAL_KEY, "short-old-key", "an entry of VSAT_PSEUDONYM_OLD_KEYS is 13 bytes long"),
])
def test_short_or_published_keys_are_refused_in_every_profile(monkeypatch, profile, key, old, problem):
    _key_env(monkeypatch, profile=profile, key=key, old=old)
    with pytest.raises(PseudonymKeyError, match=problem):
        key_ring_from_env()


def test_a_key_other_than_the_warehouse_s_is_refused_naming_the_rotation(monkeypatch):
    other = "another-secret-of-at-least-32-bytes-9876543210"
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ops")
    _key_env(monkeypatch, key=REAL_KEY)
    check_against_warehouse(con, key_ring_from_env())
    stored = con.execute("SELECT fingerprint FROM ops.key_fingerprints").fetchall()
    assert stored == [(fingerprint(REAL_KEY.encode()),)]
    assert REAL_KEY not in repr(stored) and fingerprint(REAL_KEY.encode()) != fingerprint(other.encode())
    check_against_warehouse(con, key_ring_from_env())  # the same key again: fine

    _key_env(monkeypatch, key=other)
    with pytest.raises(KeyMismatchError, match="VSAT_PSEUDONYM_OLD_KEYS"):
        check_against_warehouse(con, key_ring_from_env())
    _key_env(monkeypatch, key=other, old=REAL_KEY)  # the documented rotation
    check_against_warehouse(con, key_ring_from_env())
    assert len(con.execute("SELECT * FROM ops.key_fingerprints").fetchall()) == 2
    _key_env(monkeypatch, key=other)  # dropping the old key later would forget its entries
    with pytest.raises(KeyMismatchError):
        check_against_warehouse(con, key_ring_from_env())


def test_pseudonym_is_truncated_hmac_sha256():
    expected = hmac.new(KEY, b"DUR\x1fperson-42", hashlib.sha256).hexdigest()[:32]
    assert pseudonym(KEY, "DUR", "person-42") == "S" + expected


# Keys of every length that matters to HMAC: short, 32 bytes, exactly SHA-256's 64-byte block,
# one over it (hashed first), far over it, and bytes that are not valid UTF-8.
KEYS = [KEY, b"k" * 32, bytes(range(64)), bytes(range(65)), b"\xff\x00" * 100, b"x"]
# Parts: empty, Unicode (2-, 3- and 4-byte UTF-8), quotes, and messages longer than a block.
EDGE_PARTS = [("", ""), ("DUR", ""), ("", "person-42"), ("Ünïcødé ☎", "日本語"), ("emoji 😀", "𝄞"),
              ("o'brien", '"quoted"'), ("x" * 55, "y"), ("x" * 63, ""), ("a" * 64, "b" * 64),
              ("long " * 300, "z" * 1000), ("DUR/DUR-P00000042", "DUR/C/2025-04/000001")]


def reference_pseudonym(key: bytes, a: str, b: str) -> str:
    """Python's hmac, independently of the module under test."""
    return "S" + hmac.new(key, f"{a}\x1f{b}".encode(), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{len(k)}-byte key")
def test_duckdb_pseudonym_matches_python_hmac_on_edge_cases(key):
    con = duckdb.connect()
    register_pseudonym_function(con, key)
    t = pa.table({"i": range(len(EDGE_PARTS)), "f": [a for a, _ in EDGE_PARTS], "p": [b for _, b in EDGE_PARTS]})
    con.register("t", t)
    got = [r[0] for r in con.execute("SELECT vsat_pseudonym(f, p) FROM t ORDER BY i").fetchall()]
    assert got == [reference_pseudonym(key, a, b) for a, b in EDGE_PARTS]
    assert got == [pseudonym(key, a, b) for a, b in EDGE_PARTS]
    assert con.execute("SELECT vsat_pseudonym(NULL, 'x'), vsat_pseudonym('x', NULL)").fetchone() == (None, None)
    with pytest.raises(duckdb.Error, match="unit separator"):
        con.execute("SELECT vsat_pseudonym('a' || chr(31) || 'b', 'c')").fetchall()
    with pytest.raises(duckdb.Error, match="unit separator"):
        con.execute("SELECT vsat_pseudonym('a', chr(31))").fetchall()


def test_duckdb_pseudonym_matches_python_on_a_million_values():
    con = duckdb.connect()
    register_pseudonym_function(con, DEV_PSEUDONYM_KEY)
    rows = con.execute(
        """SELECT 'DUR/DUR-P' || lpad(i::VARCHAR, 8, '0') AS f, 'DUR/C/2025-04/' || (i * 7919)::VARCHAR AS p,
                  vsat_pseudonym(f, p) FROM range(1000000) r(i)""").fetchall()
    h = hmac.new(DEV_PSEUDONYM_KEY, digestmod=hashlib.sha256)

    def expected(a, b):
        m = h.copy()
        m.update(f"{a}\x1f{b}".encode())
        return "S" + m.hexdigest()[:32]
    mismatches = sum(1 for a, b, got in rows if got != expected(a, b))
    assert len(rows) == 1_000_000 and mismatches == 0


def test_pseudonym_sql_holds_no_key_material():
    """The pads travel as query parameters: neither the macro's SQL nor anything the
    connection can list as SQL text holds the key or its pads."""
    con = duckdb.connect()
    key = b"a-distinctive-key-for-this-test-0123456789"
    register_pseudonym_function(con, key)
    inner, outer = hmac_pads(key)
    text = " ".join(str(r) for r in con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'vsat_pseudonym'").fetchall())
    assert "getvariable" in text
    for secret in (key, inner, outer):
        assert secret.hex() not in text.lower() and secret.decode("latin-1") not in text
    drop_pseudonym_function(con, "vsat_pseudonym")
    assert con.execute("SELECT getvariable('vsat_pseudonym_inner_pad')").fetchone() == (None,)
    with pytest.raises(duckdb.Error):
        con.execute("SELECT vsat_pseudonym('a', 'b')").fetchall()


@pytest.mark.slow
def test_duckdb_udf_throughput_500k(capsys):
    con = duckdb.connect()
    register_pseudonym_function(con, KEY)
    start = time.perf_counter()
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT vsat_pseudonym('DUR', 'person-' || i::VARCHAR)) FROM range(500000) r(i)"
    ).fetchone()
    elapsed = time.perf_counter() - start
    assert n == distinct == 500_000
    with capsys.disabled():
        print(f"\nvsat_pseudonym: 500,000 rows in {elapsed:.2f}s = {n / elapsed:,.0f} rows/s")


# ------------------------------------------------------------------ spreadsheet safety
@pytest.mark.parametrize("value", ["=SUM(A1)", "+44 7700 900123", "-2+3", "@cmd", "\tx", "\rx", "=", "+"])
def test_formula_prefixes_neutralised(value):
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Smith", "O'Brien", "Anne-Marie", "07700900123", "", " =x", "Ms", None])
def test_ordinary_values_unchanged(value):
    assert neutralise_cell(value) == value


@given(st.lists(st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["=", "+", "-", "@", "\t", "\r"]))))
def test_neutralise_expr_matches_python(values):
    df = pl.DataFrame({"v": values}, schema={"v": pl.String})
    assert df.select(neutralise_expr("v")).to_series().to_list() == [neutralise_cell(v) for v in values]


def test_connections_to_one_file_keep_their_own_pseudonym_function(tmp_path):
    """DuckDB shares a Python UDF between the connections of a process to one file and leaves it
    behind when its connection closes: registering again on another connection must still work,
    with that connection's own key."""
    path = str(tmp_path / "shared.duckdb")
    first, second = duckdb.connect(path), duckdb.connect(path)
    other_key = b"another-key-of-thirty-two-bytes!"
    register_pseudonym_function(first, KEY, "vsat_pseudonym")
    register_pseudonym_function(second, other_key, "vsat_pseudonym")
    assert first.execute("SELECT vsat_pseudonym('a', 'b')").fetchone()[0] == pseudonym(KEY, "a", "b")
    assert second.execute("SELECT vsat_pseudonym('a', 'b')").fetchone()[0] == pseudonym(other_key, "a", "b")
    first.close()
    third = duckdb.connect(path)
    register_pseudonym_function(third, KEY, "vsat_pseudonym")
    assert third.execute("SELECT vsat_pseudonym('a', 'b')").fetchone()[0] == pseudonym(KEY, "a", "b")
    assert second.execute("SELECT vsat_pseudonym('a', 'b')").fetchone()[0] == pseudonym(other_key, "a", "b")
    second.close()
    third.close()


def test_the_pseudonym_function_imports_nothing_in_duckdbs_worker_threads():
    """An import inside a DuckDB worker thread (pyarrow loads pandas on first use) can corrupt
    Python 3.11's parser state, and a later import then fails with "AST constructor recursion
    depth mismatch": everything the function needs is loaded when it is registered."""
    script = """
import sys, duckdb
from vsat_assets.privacy import register_pseudonym_function
conn = duckdb.connect()
register_pseudonym_function(conn, b"k" * 32)
before = set(sys.modules)
conn.execute("SELECT count(DISTINCT vsat_pseudonym(i::VARCHAR, 'x')) FROM range(300000) t(i)").fetchall()
print(sorted(set(sys.modules) - before))
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
