"""The opt-out register: who asked never to be surveyed again. Entries are only ever added."""

from datetime import date
from typing import TYPE_CHECKING

from vsat_assets import clock
from vsat_assets.privacy import normalise_uk_phone, pseudonym
from vsat_assets.warehouse import table_exists

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

REGISTER = "ops.opt_out_register"
ASSET = "opt_out_register"


def person_key(key: bytes, force_code: str, person_id: str) -> str:
    """The same pseudonym victim_eligibility.sql computes for a person."""
    return pseudonym(key, "person", f"{force_code}/{person_id}")


def phone_key(key: bytes, normalised_phone: str) -> str:
    return pseudonym(key, "phone", normalised_phone)


def usable_phone(phone: str) -> str:
    """The request's phone number normalised; ValueError (never echoing it) when it is not a UK number."""
    normalised = normalise_uk_phone(phone)
    if normalised is None:
        raise ValueError("the request's phone number is not a usable UK number: check it and try again")
    return normalised


def _add(conn, person: str | None, phone: str | None, on: date, channel: str, source: str) -> bool:
    exists = conn.execute(
        f"SELECT count(*) FROM {REGISTER} WHERE person_key IS NOT DISTINCT FROM ? AND phone_key IS NOT DISTINCT FROM ?",
        [person, phone],
    ).fetchone()[0]
    if exists:
        return False
    conn.execute(
        f"INSERT INTO {REGISTER} (person_key, phone_key, opted_out_on, channel, source, recorded_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [person, phone, on, channel, source, clock.now()],
    )
    return True


def record_direct_request(
    conn: "duckdb.DuckDBPyConnection",
    key: bytes,
    *,
    surname: str,
    phone: str,
    received_on: date,
    reference: str = "",
) -> int:
    """Add an emailed opt-out request; returns the number of new entries (0 if already there).

    The phone number is stored as a keyed hash. Victims in the records whose
    normalised phone and surname both match are added by person too, so the
    opt-out still holds if they later give another number.
    """
    normalised = usable_phone(phone)
    source = f"EMAIL {reference}".strip()
    added = int(_add(conn, None, phone_key(key, normalised), received_on, "EMAIL", source))
    matches = []
    if table_exists(conn, "staging.stg_reports"):
        matches = conn.execute(
            """SELECT DISTINCT force_code, victim_person_id FROM staging.stg_reports
               WHERE phone_normalised = ? AND lower(trim(victim_surname)) = lower(trim(?))""",
            [normalised, surname],
        ).fetchall()
    for force_code, person_id in matches:
        added += _add(conn, person_key(key, force_code, person_id), phone_key(key, normalised),
                      received_on, "EMAIL", source)
    return added


def record_contractor_opt_outs(conn: "duckdb.DuckDBPyConnection", opt_outs_sql: str, source: str) -> int:
    """Add the people behind a returns file's OPT_OUT outcomes, by person and by phone.

    `opt_outs_sql` returns (survey_id, interview_date); any survey_id of a sampled victim counts,
    whichever month it belongs to. The opt-out dates from the interview when that lies in the
    contact window, otherwise (blank, unreadable or impossible date) from the window's first day.
    Returns the number of new entries.
    """
    before = conn.execute(f"SELECT count(*) FROM {REGISTER}").fetchall()[0][0]
    conn.execute(
        f"""INSERT INTO {REGISTER} (person_key, phone_key, opted_out_on, channel, source, recorded_at)
            SELECT f.person_key, f.phone_key,
                   min(CASE WHEN o.interview_date BETWEEN f.contact_from AND f.contact_until
                            THEN o.interview_date ELSE f.contact_from END),
                   'CONTRACTOR_RETURNS', ?, ?::TIMESTAMP
            FROM ({opt_outs_sql}) o(survey_id, interview_date)
            JOIN intermediate.sampling_frame f USING (survey_id)
            WHERE f.selection = 'SAMPLED'
              AND NOT EXISTS (SELECT 1 FROM {REGISTER} r
                              WHERE r.person_key IS NOT DISTINCT FROM f.person_key
                                AND r.phone_key IS NOT DISTINCT FROM f.phone_key)
            GROUP BY f.person_key, f.phone_key""",
        [source, clock.now()],
    )
    return conn.execute(f"SELECT count(*) FROM {REGISTER}").fetchall()[0][0] - before


def register_metadata(conn: "duckdb.DuckDBPyConnection") -> dict:
    """The register's counts, as the asset and every change to it report them (no key, no source)."""
    from dagster import MetadataValue

    by_channel = dict(conn.execute(f"SELECT channel, count(*) FROM {REGISTER} GROUP BY ALL ORDER BY ALL").fetchall())
    return {"dagster/row_count": sum(by_channel.values()), "entries_by_channel": MetadataValue.json(by_channel)}


def register_changed(conn: "duckdb.DuckDBPyConnection", added: int, by: str):
    """The AssetMaterialization of opt_out_register recording that `by` added `added` entries: the register
    is written outside its own asset (the opt-out command, the returns), and the UI should show each change."""
    from dagster import AssetMaterialization

    return AssetMaterialization(
        asset_key=ASSET, description=f"{added} entries added by {by}",
        metadata={**register_metadata(conn), "entries_added": added, "added_by": by},
    )
