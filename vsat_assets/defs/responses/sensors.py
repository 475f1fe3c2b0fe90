"""The contractor inbox sensor: each new returns file starts the ingestion of its month, once."""

import json
import re

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from vsat_assets.defs.handoff.sftp import ContractorSftp, SftpUnavailable
from vsat_assets.defs.responses.jobs import survey_responses_job
from vsat_assets.partitions import monthly_partitions
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.defs.responses.fetch import fetch_returns

RETURNS_FILE = re.compile(r"^returns_(\d{4})-(\d{2})\.csv$")


@sensor(job=survey_responses_job, minimum_interval_seconds=60,
        description="Fetches new or replaced returns from the contractor's SFTP server (when configured) into "
        "the inbox; a new or replaced returns file in the inbox runs its sampling month.")
def contractor_returns_sensor(
    context: SensorEvaluationContext, contractor_inbox: ContractorInbox, contractor_sftp: ContractorSftp
):
    inbox = contractor_inbox.inbox_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    unreachable = ""
    if contractor_sftp.configured:
        try:
            fetched = fetch_returns(contractor_sftp, inbox, seen, RETURNS_FILE, context.log)
        except SftpUnavailable as error:  # a refused host key or login raises: the tick shows the error
            unreachable = f"; {error}"
            context.log.warning(str(error))
        else:
            if fetched:
                context.log.info(f"fetched {', '.join(fetched)} from {contractor_sftp.describe()}")
    if not inbox.is_dir():
        return SkipReason(f"no inbox folder {inbox} yet{unreachable}")
    valid_keys = set(monthly_partitions.get_partition_keys())
    requests = []
    for path in sorted(inbox.iterdir()):
        match = RETURNS_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        stat = path.stat()
        version = f"{stat.st_size}-{stat.st_mtime_ns}"
        if seen.get(path.name) == version:
            continue
        key = f"{match.group(1)}-{match.group(2)}-01"
        if key not in valid_keys:
            context.log.warning(f"{path.name}: no such sampling month, ignored")
        else:
            requests.append(RunRequest(run_key=f"{path.name}@{version}", partition_key=key))
        seen[path.name] = version
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return requests or SkipReason(f"no new returns files{unreachable}")
