"""The contractor exchange over SFTP, against a real OpenSSH server on 127.0.0.1 (see sshd.py).

Each test gets its own sshd with a throw-away host key and client key, and the generator's April
and May 2025 hand-offs written to the local outbox but not yet sent (the session's cached build,
with `sent_at` cleared). The server's `outbox` and `returns` folders are what the contractor sees.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path

import paramiko
import pytest
from dagster import RunRequest, SkipReason, build_sensor_context

from vsat_assets.contractor_sim import ContractorSettings, simulate_returns
from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.defs.handoff.sftp import ContractorSftp, HostKeyRefused, PinnedHostKey
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.defs.responses.sensors import contractor_returns_sensor
from sshd import OpenSshServer, keygen, keygen_fingerprint

APRIL = "2025-04-01"
APRIL_FILE = "handoff_2025-04.csv"
APRIL_MANIFEST = "handoff_2025-04.manifest.json"
APRIL_RETURNS = "returns_2025-04.csv"
HANDOFF_ONLY = ["contractor_handoff"]
LOG_SQL = "SELECT sampling_month::VARCHAR, sent_at IS NOT NULL, sent_host_key FROM ops.handoff_log"


@pytest.fixture
def server(tmp_path: Path):
    sshd = OpenSshServer(tmp_path / "sftp_server")
    sshd.start()
    yield sshd
    sshd.stop()


def sftp_for(server: OpenSshServer, **overrides) -> ContractorSftp:
    fields = dict(host="127.0.0.1", port=server.port, user=server.user, private_key_path=str(server.client_key),
                  host_key=server.host_public_key, remote_outbox=str(server.outbox),
                  remote_returns=str(server.returns), attempts=3, backoff_seconds=0.2, timeout_seconds=5)
    return ContractorSftp(**{**fields, **overrides})


@pytest.fixture
def unsent(generator_handoffs, warehouse_rows) -> dict:
    """April and May written to the local outbox, neither yet sent."""
    with generator_handoffs["warehouse"].get_connection() as conn:
        conn.execute("UPDATE ops.handoff_log SET sent_at = NULL")
    return generator_handoffs


def server_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def personal_values(outbox: Path) -> set[str]:
    with (outbox / APRIL_FILE).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {row[c] for row in rows for c in ("forename", "surname", "phone_number") if len(row[c]) > 3}


def no_personal_data_or_key_in(text: str, tmp_path: Path, server: OpenSshServer) -> None:
    leaked = {v for v in personal_values(tmp_path / "outbox") if v in text}
    assert not leaked, f"{len(leaked)} names or phone numbers reached the run's log"
    private_key = server.client_key.read_text().splitlines()[1]
    assert private_key not in text


# ------------------------------------------------------------------------------ sending
def test_a_month_is_uploaded_under_a_temporary_name_verified_and_logged_as_sent(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, run_log_text, monkeypatch
):
    renames = []
    real_rename = paramiko.SFTPClient.posix_rename
    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename",
                        lambda self, old, new: renames.append((old, new)) or real_rename(self, old, new))

    result = materialize_vsat({**unsent, "contractor_sftp": sftp_for(server)}, partition=APRIL,
                              selection=HANDOFF_ONLY)

    assert result.success
    local = tmp_path / "outbox"
    assert server_files(server.outbox) == [APRIL_FILE, APRIL_MANIFEST]
    for name in (APRIL_FILE, APRIL_MANIFEST):
        assert (server.outbox / name).read_bytes() == (local / name).read_bytes()
    manifest = json.loads((server.outbox / APRIL_MANIFEST).read_text())
    assert hashlib.sha256((server.outbox / APRIL_FILE).read_bytes()).hexdigest() == manifest["sha256"]
    # Each file appeared under its real name only by a rename from a hidden temporary name, data first.
    assert [Path(new).name for _, new in renames] == [APRIL_FILE, APRIL_MANIFEST]
    assert all(Path(old).name.startswith(f".{Path(new).name}.") and old.endswith(".partial")
               and Path(old).parent == server.outbox for old, new in renames)
    assert warehouse_rows(unsent["warehouse"], LOG_SQL) == [
        ("2025-04-01", True, server.host_fingerprint),  # the fingerprint OpenSSH prints for its key
        ("2025-05-01", False, None),
    ]
    sent = result.asset_materializations_for_node("contractor_handoff")[0].metadata["sent_over_sftp"].value
    assert sent["2025-04"]["uploaded"] and sent["2025-04"]["host_key"] == server.host_fingerprint
    no_personal_data_or_key_in(run_log_text(result), tmp_path, server)


def test_a_run_killed_after_the_upload_before_the_log_leaves_the_month_settled(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, monkeypatch
):
    """The file reached the contractor's folder but the run died before logging it as sent: the
    contractor may have collected it, so a later opt-out must not change the month, and the re-run
    logs it as sent without replacing the server's file."""
    from vsat_assets.defs.handoff import delivery

    def killed(step: str) -> None:
        if step == "handoff_uploaded":
            raise SystemExit("killed after the upload")

    resources = {**unsent, "contractor_sftp": sftp_for(server)}
    monkeypatch.setattr(delivery, "crash_point", killed)
    with pytest.raises(SystemExit):
        materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY, raise_on_error=True)
    monkeypatch.undo()
    uploaded = (server.outbox / APRIL_FILE).read_bytes()
    assert warehouse_rows(unsent["warehouse"], LOG_SQL)[0] == ("2025-04-01", False, None)
    with unsent["warehouse"].get_connection() as conn:  # someone handed off in April opts out
        conn.execute("""INSERT INTO ops.opt_out_register (person_key, opted_out_on, channel, source)
                        SELECT person_key, DATE '2025-05-20', 'EMAIL', 'TEST-1' FROM intermediate.sampled_cohort
                        WHERE sampling_month = DATE '2025-04-01' ORDER BY survey_id LIMIT 1""")

    result = materialize_vsat(resources, partition=APRIL,
                              selection=["sampling_frame", "sampled_cohort", "contractor_handoff"])

    assert result.success
    assert (server.outbox / APRIL_FILE).read_bytes() == uploaded
    assert (tmp_path / "outbox" / APRIL_FILE).read_bytes() == uploaded
    assert warehouse_rows(unsent["warehouse"], LOG_SQL)[0] == ("2025-04-01", True, server.host_fingerprint)


def test_a_rerun_of_a_sent_month_uploads_nothing(unsent, server, materialize_vsat, warehouse_rows):
    resources = {**unsent, "contractor_sftp": sftp_for(server)}
    assert materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY).success
    sent_at = warehouse_rows(unsent["warehouse"], "SELECT sent_at FROM ops.handoff_log WHERE sent_at IS NOT NULL")
    for path in server.outbox.iterdir():  # the contractor collects the files and deletes them
        path.unlink()

    result = materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY)

    assert result.success
    assert server_files(server.outbox) == []
    assert warehouse_rows(unsent["warehouse"], "SELECT sent_at FROM ops.handoff_log WHERE sent_at IS NOT NULL") \
        == sent_at
    sent = result.asset_materializations_for_node("contractor_handoff")[0].metadata["sent_over_sftp"].value
    assert sent["2025-04"]["uploaded"] is False


def test_in_production_only_the_encrypted_handoff_leaves_the_machine(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, failure_messages, monkeypatch
):
    pyrage = pytest.importorskip("pyrage")
    monkeypatch.setenv("VSAT_PROFILE", "production")
    monkeypatch.setenv("VSAT_PSEUDONYM_KEY", "a-test-only-secret-key-0123456789abcdef")
    resources = {**unsent, "contractor_sftp": sftp_for(server)}
    plain = (tmp_path / "outbox" / APRIL_FILE).read_bytes()

    refused = materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY)

    assert not refused.success
    assert "production profile sends only hand-offs encrypted" in "\n".join(failure_messages(refused))
    assert server_files(server.outbox) == []
    assert warehouse_rows(unsent["warehouse"], "SELECT count(*) FROM ops.handoff_log WHERE sent_at IS NOT NULL") \
        == [(0,)]

    identity = pyrage.x25519.Identity.generate()
    resources["handoff"] = HandoffSettings(outbox=str(tmp_path / "outbox"), age_recipient=str(identity.to_public()))
    assert materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY).success

    assert server_files(server.outbox) == [APRIL_FILE + ".age", APRIL_MANIFEST]
    assert pyrage.decrypt((server.outbox / (APRIL_FILE + ".age")).read_bytes(), [identity]) == plain


# ----------------------------------------------------------------------------- receiving
def sensor_tick(server: OpenSshServer, inbox: Path, cursor: str | None, sftp: ContractorSftp | None = None):
    context = build_sensor_context(cursor=cursor, resources={
        "contractor_inbox": ContractorInbox(inbox=str(inbox)), "contractor_sftp": sftp or sftp_for(server)})
    result = contractor_returns_sensor(context)
    requests = [] if isinstance(result, SkipReason) else list(result)
    assert all(isinstance(r, RunRequest) for r in requests)
    return requests, context.cursor


def test_the_contractor_answers_through_the_server_and_the_sensor_fetches_each_returns_version_once(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows
):
    assert materialize_vsat({**unsent, "contractor_sftp": sftp_for(server)}, partition=APRIL,
                            selection=HANDOFF_ONLY).success
    # The contractor's side: it reads the hand-off in its server folder and writes returns beside it.
    returned = simulate_returns(server.outbox / APRIL_FILE, server.returns)
    inbox = tmp_path / "inbox"

    requests, cursor = sensor_tick(server, inbox, None)

    assert [r.partition_key for r in requests] == [APRIL]
    assert (inbox / APRIL_RETURNS).read_bytes() == returned.read_bytes()
    assert server_files(inbox) == [APRIL_RETURNS]  # nothing half-written left beside it
    assert sensor_tick(server, inbox, cursor)[0] == []  # the same version is fetched once

    result = materialize_vsat(unsent, partition=requests[0].partition_key, selection=["survey_responses"])
    assert result.success
    with returned.open() as f:
        returned_ids = sorted(row["survey_id"] for row in csv.DictReader(f))
    assert [r[0] for r in warehouse_rows(unsent["warehouse"], "SELECT survey_id FROM staging.survey_responses")] \
        == returned_ids

    # A replaced returns file on the server is a new version: fetched and requested again.
    replaced = simulate_returns(server.outbox / APRIL_FILE, server.returns, ContractorSettings(seed=7))
    later = time.time() + 5
    os.utime(replaced, (later, later))
    requests, _ = sensor_tick(server, inbox, cursor)
    assert [r.partition_key for r in requests] == [APRIL]
    assert (inbox / APRIL_RETURNS).read_bytes() == replaced.read_bytes()


def test_the_sensor_keeps_the_local_inbox_working_while_the_server_is_down(server, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / APRIL_RETURNS).write_text("survey_id,outcome\n")
    server.stop()

    requests, cursor = sensor_tick(server, inbox, None, sftp_for(server, attempts=1))

    assert [r.partition_key for r in requests] == [APRIL]
    assert not any(key.startswith("sftp:") for key in json.loads(cursor))


# ------------------------------------------------------------------------------ failures
def test_an_unknown_host_key_is_refused_at_once_and_nothing_is_sent(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, failure_messages
):
    other = keygen(tmp_path / "some_other_host_key")
    sftp = sftp_for(server, host_key=other, backoff_seconds=60)

    started = time.monotonic()
    result = materialize_vsat({**unsent, "contractor_sftp": sftp}, partition=APRIL, selection=HANDOFF_ONLY)

    assert time.monotonic() - started < 45, "a refused host key must not be retried"
    assert not result.success
    text = "\n".join(failure_messages(result))
    assert f"presented host key ssh-ed25519 {server.host_fingerprint}, not the pinned " \
           f"{keygen_fingerprint(tmp_path / 'some_other_host_key.pub')}" in text
    assert "nothing was sent" in text
    assert server_files(server.outbox) == []
    assert ("2025-04-01", False, None) in warehouse_rows(unsent["warehouse"], LOG_SQL)
    with pytest.raises(HostKeyRefused, match="not the pinned"):
        sensor_tick(server, tmp_path / "inbox", None, sftp)


def test_wrong_credentials_fail_at_once(unsent, server, tmp_path, materialize_vsat, failure_messages):
    keygen(tmp_path / "unknown_client_key")
    sftp = sftp_for(server, private_key_path=str(tmp_path / "unknown_client_key"), backoff_seconds=60)

    started = time.monotonic()
    result = materialize_vsat({**unsent, "contractor_sftp": sftp}, partition=APRIL, selection=HANDOFF_ONLY)

    assert time.monotonic() - started < 45, "a refused login must not be retried"
    assert not result.success
    assert "refused the login with the configured key" in "\n".join(failure_messages(result))
    assert server_files(server.outbox) == []


@pytest.mark.parametrize("text", [
    "{key}",
    "[127.0.0.1]:2222 {key}",
    "{fingerprint}",
])
def test_the_host_key_can_be_pinned_as_a_key_a_known_hosts_line_or_a_fingerprint(server, text):
    pin = text.format(key=server.host_public_key, fingerprint=server.host_fingerprint)
    assert PinnedHostKey.parse(pin).fingerprint == server.host_fingerprint
    with sftp_for(server, host_key=pin).session() as client:
        assert client.listdir(str(server.outbox)) == []


def interrupt_the_april_upload(monkeypatch, cut) -> None:
    """The first upload of April's file writes half its bytes to the server, then `cut()` happens."""
    real_putfo = paramiko.SFTPClient.putfo
    done = []

    def putfo(self, fl, remotepath, file_size=0, callback=None, confirm=True):
        if f".{APRIL_FILE}." in remotepath and not done:
            done.append(remotepath)
            content = fl.read()
            with self.open(remotepath, "wb") as handle:
                handle.write(content[: len(content) // 2])
            cut()
            fl.seek(0)
        return real_putfo(self, fl, remotepath, file_size, callback, confirm)

    monkeypatch.setattr(paramiko.SFTPClient, "putfo", putfo)


def test_a_connection_dropped_mid_upload_is_retried_and_the_upload_completes(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, run_log_text, monkeypatch
):
    interrupt_the_april_upload(monkeypatch, server.drop_connections)

    result = materialize_vsat({**unsent, "contractor_sftp": sftp_for(server)}, partition=APRIL,
                              selection=HANDOFF_ONLY)

    assert result.success
    assert "attempt 1 of 3 failed" in run_log_text(result)
    assert server_files(server.outbox) == [APRIL_FILE, APRIL_MANIFEST]  # the half-written temporary is gone
    assert (server.outbox / APRIL_FILE).read_bytes() == (tmp_path / "outbox" / APRIL_FILE).read_bytes()
    assert ("2025-04-01", True, server.host_fingerprint) in warehouse_rows(unsent["warehouse"], LOG_SQL)


def test_a_server_stopped_mid_upload_fails_the_run_clearly_and_a_rerun_sends_the_month(
    unsent, server, tmp_path, materialize_vsat, warehouse_rows, failure_messages, monkeypatch
):
    interrupt_the_april_upload(monkeypatch, server.stop)
    resources = {**unsent, "contractor_sftp": sftp_for(server)}

    result = materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY)

    assert not result.success
    assert f"sftp://127.0.0.1:{server.port}: gave up after 3 attempt(s)" in "\n".join(failure_messages(result))
    visible = [name for name in server_files(server.outbox) if not name.startswith(".")]
    assert visible == []  # at most a hidden temporary file, never a partial file under the real name
    assert ("2025-04-01", False, None) in warehouse_rows(unsent["warehouse"], LOG_SQL)

    server.start()
    assert materialize_vsat(resources, partition=APRIL, selection=HANDOFF_ONLY).success

    assert server_files(server.outbox) == [APRIL_FILE, APRIL_MANIFEST]
    assert (server.outbox / APRIL_FILE).read_bytes() == (tmp_path / "outbox" / APRIL_FILE).read_bytes()
    assert ("2025-04-01", True, server.host_fingerprint) in warehouse_rows(unsent["warehouse"], LOG_SQL)


def test_a_file_that_reads_back_different_never_appears_under_its_real_name(
    unsent, server, materialize_vsat, warehouse_rows, failure_messages, monkeypatch
):
    from vsat_assets.defs.handoff import delivery

    real_read = delivery.read_remote
    monkeypatch.setattr(delivery, "read_remote", lambda client, path: real_read(client, path)[:-1])

    result = materialize_vsat({**unsent, "contractor_sftp": sftp_for(server)}, partition=APRIL,
                              selection=HANDOFF_ONLY)

    assert not result.success
    text = "\n".join(failure_messages(result))
    assert "gave up after 3 attempt(s)" in text and f"TransferNotVerified: {APRIL_FILE} read back" in text
    assert server_files(server.outbox) == []
    assert ("2025-04-01", False, None) in warehouse_rows(unsent["warehouse"], LOG_SQL)


def test_a_warehouse_made_before_the_exchange_gains_the_host_key_column_and_keeps_its_log(tmp_path):
    import duckdb

    from vsat_assets.warehouse import ensure_schemas

    with duckdb.connect(str(tmp_path / "old.duckdb")) as conn:
        conn.execute("CREATE SCHEMA ops")
        conn.execute("""CREATE TABLE ops.handoff_log (sampling_month DATE PRIMARY KEY, file VARCHAR NOT NULL,
                        rows BIGINT NOT NULL, sha256 VARCHAR NOT NULL, layout_version INTEGER NOT NULL,
                        written_at TIMESTAMP NOT NULL, sent_at TIMESTAMP, purged_at TIMESTAMP)""")
        conn.execute("INSERT INTO ops.handoff_log VALUES ('2025-04-01', 'f', 3, 'abc', 1, now(), now(), NULL)")

        ensure_schemas(conn)
        ensure_schemas(conn)

        assert conn.execute("SELECT sampling_month::VARCHAR, rows, sent_host_key FROM ops.handoff_log").fetchall() \
            == [("2025-04-01", 3, None)]
