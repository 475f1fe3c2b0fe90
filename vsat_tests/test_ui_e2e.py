"""End to end through the UI: `dagster dev` serves the asset graph, a run launched over GraphQL fills DuckDB.

Needs Debian's chromium (scripts/install_test_deps.sh). Takes about a minute.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from vsat_tests.browser import rendered_text, screenshot

PROJECT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
PARTITION = "2025-04-01"
BLANK_PNG_BYTES = 20_000  # an unrendered 1400x900 page is ~6 KB; the asset graph ~90 KB

LAUNCH_RUN = """
mutation Launch($selector: JobOrPipelineSelector!, $tags: [ExecutionTag!]) {
  launchRun(executionParams: {selector: $selector, executionMetadata: {tags: $tags}}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""
RUN_STATUS = 'query Status($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class Webserver:
    def __init__(self, port: int, log: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to `dagster dev` (it shuts down its services, ~8 s), then SIGKILL whatever is left in its group."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


@pytest.fixture
def webserver(tmp_path: Path):
    port = _free_port()
    env = dict(os.environ, VSAT_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "home"))
    for folder in ("data", "home"):
        (tmp_path / folder).mkdir()
    log = tmp_path / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole in the finalizer
        )
    server = Webserver(port, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"dagster dev exited {process.returncode}:\n{server.log_tail()}"
            try:
                _get(f"{server.base}/server_info")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"no /server_info after 90 s:\n{server.log_tail()}"
                time.sleep(1)
        # /server_info answers before the code location has loaded: wait for the asset job too.
        while not _jobs(server):
            assert time.monotonic() < deadline, f"code location 'vsat' not loaded:\n{server.log_tail()}"
            time.sleep(1)
        yield server
    finally:
        _stop(process)


def _jobs(server: Webserver) -> list[str]:
    data = server.graphql(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { location { name } jobs { name } } } } }"
    )
    nodes = data["repositoriesOrError"].get("nodes", [])
    return [job["name"] for node in nodes if node["location"]["name"] == "vsat" for job in node["jobs"]]


def _materialize(server: Webserver, asset: str, partition: str | None = None, timeout: float = 180) -> str:
    """Launch the implicit asset job on one asset (and partition) and wait for the run to succeed."""
    selector = {
        "repositoryLocationName": "vsat",
        "repositoryName": "__repository__",
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": [asset]}],
    }
    tags = [{"key": "dagster/partition", "value": partition}] if partition else []
    launched = server.graphql(LAUNCH_RUN, {"selector": selector, "tags": tags})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = server.graphql(RUN_STATUS, {"id": run_id})["runOrError"].get("status")
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", f"run {run_id} of {asset} ended {status}:\n{server.log_tail()}"
    return run_id


@pytest.mark.slow
def test_asset_graph_renders_and_a_partition_run_fills_duckdb(webserver: Webserver, tmp_path: Path):
    # The "Join the Dagster community" dialog covers the page on 127.0.0.1: mark it seen.
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

    url = f"{webserver.base}/asset-groups"  # "Global asset lineage" in dagster 1.13
    png = screenshot(url, tmp_path / "asset_graph.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > BLANK_PNG_BYTES, f"{png} looks blank ({png.stat().st_size} bytes)"
    text = rendered_text(url)
    for expected in ("Global asset lineage", "raw_reports"):
        assert expected in text, f"{expected!r} not on {url}: {text[:500]}"

    # raw_reports' checks join raw.offences, which the unpartitioned offence_catalogue writes.
    _materialize(webserver, "offence_catalogue")
    _materialize(webserver, "raw_reports", PARTITION)

    with duckdb.connect(str(tmp_path / "data" / "vsat.duckdb"), read_only=True) as conn:
        rows, first, last = conn.execute(
            "SELECT count(*), min(report_date), max(report_date) FROM raw.reports"
        ).fetchone()
    assert rows > 0
    assert (first.isoformat()[:7], last.isoformat()[:7]) == ("2025-04", "2025-04")
