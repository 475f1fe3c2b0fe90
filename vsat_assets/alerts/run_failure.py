"""A failed run of the code location, by email: job, run id, partition, failed step, one-line error."""

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SkipReason,
    run_failure_sensor,
)

from vsat_assets.alerts import mail

PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
# Dagster wraps the step's own exception in this one; the mail names the step's own.
WRAPPER_ERROR = "DagsterExecutionStepExecutionError"


def partition_of(run: DagsterRun) -> str:
    if PARTITION_TAG in run.tags:
        return run.tags[PARTITION_TAG]
    start, end = (run.tags.get(tag) for tag in RANGE_TAGS)
    return f"{start} to {end}" if start and end else "none"


def _own_error(error):
    while error.cls_name == WRAPPER_ERROR and error.cause is not None:
        error = error.cause
    return error


def _with_class(error) -> str:
    """'ValueError: message' (Dagster's message usually starts with the class already)."""
    message = error.message.strip()
    return message if message.startswith(f"{error.cls_name}:") else f"{error.cls_name}: {message}"


def failed_steps(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, 'ErrorClass: one line, values hidden') of each failed step, in order."""
    steps = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        error = _own_error(event.step_failure_data.error) if event.step_failure_data.error else None
        line = mail.without_values(_with_class(error)) if error else "no error recorded"
        steps.append((event.step_key, line))
    return steps


def failed_checks(instance: DagsterInstance, run_id: str) -> list[str]:
    """'asset: check (partition)' of each check the run evaluated as failed."""
    names = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            partition = f" ({evaluation.partition})" if getattr(evaluation, "partition", None) else ""
            names.append(f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}{partition}"
                         f" [{evaluation.severity.value}]")
    return names


def assets_not_built(instance: DagsterInstance, run_id: str) -> list[str]:
    """Assets the run planned and did not materialise: a hand-off or publish a failed check stopped."""
    def keys(kind):
        return {record.dagster_event.asset_key.to_user_string() for record in instance.all_logs(run_id, of_type=kind)}
    return sorted(keys(DagsterEventType.ASSET_MATERIALIZATION_PLANNED) - keys(DagsterEventType.ASSET_MATERIALIZATION))


def failure_mail(instance: DagsterInstance, run: DagsterRun, run_message: str) -> tuple[str, str]:
    """(subject, body) of the alert for a failed run."""
    steps = failed_steps(instance, run.run_id)
    checks = failed_checks(instance, run.run_id)
    partition = partition_of(run)
    first_step = steps[0][0] if steps else "none (the run failed outside its steps)"
    error = steps[0][1] if steps else mail.without_values(run_message)
    lines = [
        f"Job:        {run.job_name}",
        f"Run id:     {run.run_id}",
        f"Partition:  {partition}",
        f"Failed step: {first_step}",
        f"Error:      {error}",
    ]
    lines += [f"Also failed: {key}: {line}" for key, line in steps[1:]]
    lines += [f"Failed check: {name}" for name in checks]
    lines += [f"Not built:  {key}" for key in assets_not_built(instance, run.run_id)]
    lines += [
        "",
        f"The run in the Dagster UI: {mail.ui_link(f'runs/{run.run_id}')}",
        "This mail holds no personal data; the run's event log has the details.",
    ]
    subject = f"run failed: {run.job_name}" + ("" if partition == "none" else f" {partition}") + f" ({first_step})"
    return subject, "\n".join(lines) + "\n"


@run_failure_sensor(
    name="run_failure_email_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Emails each failed run of this code location (job, run id, partition, failed step, one-line "
    "error; no personal data) through the SMTP server of VSAT_SMTP_HOST; skips while that is not configured.",
)
def run_failure_email_sensor(context: RunFailureSensorContext):
    settings = mail.smtp_from_env()
    if settings is None:
        context.log.info(mail.not_configured_reason())
        return SkipReason(mail.not_configured_reason())
    subject, body = failure_mail(context.instance, context.dagster_run, context.failure_event.message or "")
    # A refused or unreachable server fails this tick (shown on the sensor), never the daemon.
    mail.send(settings, subject, body)
    context.log.info(f"alert for run {context.dagster_run.run_id} mailed to {len(settings.recipients)} recipient(s)")
