"""The pseudonym key ring: which key makes survey ids and register keys, and whether it is the
key the warehouse's opt-out register and contact history were written with.

- `VSAT_PSEUDONYM_KEY`: the current key (at least 32 bytes). Only the demo profile
  (`VSAT_PROFILE=demo`, set by `make demo` and the tests) may run without it, on a built-in key.
- `VSAT_PSEUDONYM_OLD_KEYS`: earlier keys, comma-separated, kept after a rotation so that the
  opt-outs and contacts recorded under them still match (docs/security.md: keys and their rotation).

The warehouse keeps a fingerprint of each key it has written under (`ops.key_fingerprints`):
an HMAC of a fixed label, from which the key cannot be recovered. A run whose ring does not
hold every stored fingerprint's key is refused: under another key, nobody who opted out or was
recently surveyed would be recognised.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vsat_assets.privacy import DEV_PSEUDONYM_KEY, PseudonymKeyError, register_pseudonym_function

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

PROFILE_ENV = "VSAT_PROFILE"
DEMO_PROFILE = "demo"
KEY_ENV = "VSAT_PSEUDONYM_KEY"
OLD_KEYS_ENV = "VSAT_PSEUDONYM_OLD_KEYS"
MIN_KEY_BYTES = 32
FINGERPRINTS = "ops.key_fingerprints"
_FINGERPRINT_LABEL = b"vsat pseudonym key fingerprint v1"
# Where an operator reads about the key: every key error ends with it.
KEY_DOC = "docs/security.md"
ROTATE_HINT = (
    f"To change the key, rotate it: set {KEY_ENV} to the new key and {OLD_KEYS_ENV} to the previous "
    f"key(s), comma-separated, and keep them there (see {KEY_DOC}, on rotating the key)."
)


class KeyMismatchError(PseudonymKeyError):
    """The key ring does not hold the key the warehouse's registers were written with."""


@dataclass(frozen=True)
class KeyRing:
    current: bytes
    old: tuple[bytes, ...] = ()
    is_demo_key: bool = False

    def fingerprints(self) -> set[str]:
        return {fingerprint(k) for k in (self.current, *self.old)}


def fingerprint(key: bytes) -> str:
    """HMAC of a fixed label under the key: tells keys apart, reveals nothing of the key."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


def _checked(key: bytes, name: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"{name} is {len(key)} bytes long; a pseudonym key needs at least {MIN_KEY_BYTES} "
            f"(e.g. `python -c \"import secrets; print(secrets.token_hex(32))\"`; see {KEY_DOC})"
        )
    if key == DEV_PSEUDONYM_KEY:
        raise PseudonymKeyError(
            f"{name} is the built-in demo key, which is published with the code: choose a secret one "
            f"(e.g. `python -c \"import secrets; print(secrets.token_hex(32))\"`; see {KEY_DOC})"
        )
    return key


def key_ring_from_env() -> KeyRing:
    """The ring from the environment; PseudonymKeyError when a key is missing, short or published."""
    profile = os.environ.get(PROFILE_ENV, "")
    value = os.environ.get(KEY_ENV, "").strip()
    old = tuple(
        _checked(part.strip().encode("utf-8"), f"an entry of {OLD_KEYS_ENV}")
        for part in os.environ.get(OLD_KEYS_ENV, "").split(",") if part.strip()
    )
    if not value:
        if profile == DEMO_PROFILE:
            return KeyRing(DEV_PSEUDONYM_KEY, old, is_demo_key=True)
        raise PseudonymKeyError(
            f"{KEY_ENV} is not set. Survey ids and the opt-out register's keys are keyed hashes: set "
            f"{KEY_ENV} to a secret of at least {MIN_KEY_BYTES} bytes kept in the force's secret store "
            "(e.g. `python -c \"import secrets; print(secrets.token_hex(32))\"`), or run the demo "
            f"with {PROFILE_ENV}={DEMO_PROFILE} (`make demo`) on its built-in key (see {KEY_DOC})."
        )
    return KeyRing(_checked(value.encode("utf-8"), KEY_ENV), old)


def check_against_warehouse(conn: "duckdb.DuckDBPyConnection", ring: KeyRing) -> None:
    """Refuse a ring that lacks a key the warehouse has written under; record the current key's
    fingerprint. The caller's connection must be a writer (it holds the writer lock)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {FINGERPRINTS} (fingerprint VARCHAR PRIMARY KEY, "
                 "first_used_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
    stored = {fp for (fp,) in conn.execute(f"SELECT fingerprint FROM {FINGERPRINTS}").fetchall()}
    unknown = stored - ring.fingerprints()
    if unknown:
        raise KeyMismatchError(
            f"{KEY_ENV} is not the key this warehouse's opt-out register and contact history were written "
            f"with (stored key fingerprint(s) {', '.join(sorted(unknown))} are not in the key ring). Under "
            f"another key, victims who opted out or were recently surveyed would not be recognised. {ROTATE_HINT}"
        )
    if fingerprint(ring.current) not in stored:
        conn.execute(f"INSERT INTO {FINGERPRINTS} (fingerprint) VALUES (?)", [fingerprint(ring.current)])


def _register(conn: "duckdb.DuckDBPyConnection", key: bytes, name: str) -> None:
    register_pseudonym_function(conn, key, name)


def carry_over_old_keys(conn: "duckdb.DuckDBPyConnection", ring: KeyRing, start, end) -> dict[str, int]:
    """After a rotation: add, under the current key, the register and contact-history entries
    recorded under an old key for the people and phones reported in [start, end).

    The registers hold only keyed hashes, so an entry can be re-keyed only when the person or
    phone it stands for turns up again; every model that matches against the registers calls
    this for its window first, so no opt-out or contact is missed. Entries are only added.
    """
    if not ring.old:
        return {"register": 0, "contact_history": 0}
    _register(conn, ring.current, "vsat_pseudonym_current")
    parts = {
        "person": "SELECT DISTINCT 'person', force_code || '/' || victim_person_id FROM staging.stg_reports "
                  "WHERE report_date >= $start AND report_date < $end AND victim_person_id IS NOT NULL",
        "phone": "SELECT DISTINCT 'phone', phone_normalised FROM staging.stg_reports "
                 "WHERE report_date >= $start AND report_date < $end AND phone_normalised IS NOT NULL",
    }
    conn.execute("CREATE OR REPLACE TEMP TABLE rekeyed (kind VARCHAR, old_key VARCHAR, new_key VARCHAR)")
    for i, old in enumerate(ring.old):
        _register(conn, old, f"vsat_pseudonym_old{i}")
        for kind, sql in parts.items():
            conn.execute(
                f"""INSERT INTO rekeyed SELECT '{kind}', vsat_pseudonym_old{i}(k, v), vsat_pseudonym_current(k, v)
                    FROM ({sql}) s(k, v)""",
                {"start": start, "end": end},
            )
    before = [conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
              for t in ("ops.opt_out_register", "ops.contact_history")]
    for kind, column in (("person", "person_key"), ("phone", "phone_key")):
        conn.execute(
            # recorded_at carried too: an opt-out counts from when it was first recorded (settled months).
            f"""INSERT INTO ops.opt_out_register (person_key, phone_key, opted_out_on, channel, source, recorded_at)
                SELECT DISTINCT {"k.new_key, NULL" if kind == "person" else "NULL, k.new_key"},
                       r.opted_out_on, r.channel, r.source, r.recorded_at
                FROM ops.opt_out_register r JOIN rekeyed k ON k.kind = '{kind}' AND k.old_key = r.{column}
                WHERE NOT EXISTS (SELECT 1 FROM ops.opt_out_register n WHERE n.{column} = k.new_key
                                  AND n.opted_out_on <= r.opted_out_on)"""
        )
    conn.execute(
        """INSERT INTO ops.contact_history (person_key, survey_id, sampling_month, handed_off_on)
           SELECT DISTINCT k.new_key, h.survey_id, h.sampling_month, h.handed_off_on
           FROM ops.contact_history h JOIN rekeyed k ON k.kind = 'person' AND k.old_key = h.person_key
           WHERE NOT EXISTS (SELECT 1 FROM ops.contact_history n
                             WHERE n.person_key = k.new_key AND n.survey_id = h.survey_id)"""
    )
    after = [conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
             for t in ("ops.opt_out_register", "ops.contact_history")]
    return {"register": after[0] - before[0], "contact_history": after[1] - before[1]}
