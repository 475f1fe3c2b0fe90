"""Checks on the sample: rates, weights, exclusions, windows. Blocking ones stop the hand-off."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from vsat_assets.check_metadata import failures
from vsat_assets.sql_runner.partition_results import each_partition
from vsat_assets.partitions import monthly_partitions
from vsat_assets.resources import SurveySettings
from vsat_assets.vocabulary import SURVEY_STRANDS
from vsat_assets.warehouse import WarehouseResource

STRATUM_RATES = "stratum_rates_on_target"
NO_OPTED_OUT_OR_RECENT = "no_opted_out_or_recently_surveyed"
WEIGHTS_ADD_UP = "weights_add_up_to_eligible"
COHORT_EXPECTATIONS = "cohort_expectations"

STRATUM = "force_code, survey_strand, policing_area"


def _window(context: AssetCheckExecutionContext) -> list:
    window = context.partition_time_window
    return [window.start.date(), window.end.date()]


# Who in the month's draw could not be drawn: handed off (or sampled) in one of the recontact_months
# months AFTER it, which happens only when months were built out of order (a backfill of earlier
# months). sampling_frame passes them over in the draw but keeps them in the stratum's count, so a
# month's population and weights do not depend on the order the months were built in.
_HANDED_OFF_LATER = """EXISTS (
        SELECT 1 FROM intermediate.sampling_frame later
        WHERE later.selection = 'SAMPLED' AND later.person_key = f.person_key
          AND later.report_month > f.report_month
          AND later.report_month <= f.report_month + $3 * INTERVAL 1 MONTH
        UNION ALL
        SELECT 1 FROM ops.contact_history h
        WHERE h.person_key = f.person_key AND h.sampling_month > f.report_month
          AND h.sampling_month <= f.report_month + $3 * INTERVAL 1 MONTH)"""

OFF_TARGET_COLUMNS = ("month", "force_code", "survey_strand", "policing_area", "rate", "eligible",
                      "passed_over_handed_off_later", "expected_sampled", "sampled")


def strata_off_target(conn, start, end, recontact_months: int) -> list[tuple]:
    """The strata of [start, end) whose sample is not min(max(1, round(rate x eligible)), drawable),
    drawable being the eligible less those handed off in a later month (OFF_TARGET_COLUMNS)."""
    return conn.execute(
        f"""WITH strata AS (
                SELECT strftime(report_month, '%Y-%m') AS month, {STRATUM}, any_value(target_rate) AS rate,
                       count(*) AS eligible,
                       count(*) FILTER (WHERE {_HANDED_OFF_LATER}) AS passed_over,
                       count(*) FILTER (WHERE selection = 'SAMPLED') AS sampled
                FROM intermediate.sampling_frame f
                WHERE report_date >= $1 AND report_date < $2 AND selection IN ('SAMPLED', 'NOT_SAMPLED')
                GROUP BY ALL)
            SELECT month, {STRATUM}, rate, eligible, passed_over,
                   least(greatest(1, round(rate * eligible)), eligible - passed_over)::INTEGER AS expected, sampled
            FROM strata
            -- within half a person of rate x eligible (at least one), unless fewer could be drawn
            WHERE NOT (sampled <= eligible - passed_over AND (
                      abs(sampled - rate * eligible) <= 0.5
                      OR (sampled = 1 AND rate * eligible < 1)
                      OR (sampled = eligible - passed_over AND sampled < rate * eligible)))
            ORDER BY ALL""",
        [start, end, recontact_months],
    ).fetchall()


@asset_check(asset="sampling_frame", name=STRATUM_RATES, partitions_def=monthly_partitions, blocking=True,
             description="In every stratum the sample is round(rate x eligible) (at least one), and no more; "
                         "fewer only when the rest of the stratum was handed off in a later month (months built "
                         "out of order), and then everyone else.")
@each_partition
def stratum_rates_on_target(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, survey: SurveySettings
) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        off_target = strata_off_target(conn, *_window(context), survey.recontact_months)
    return AssetCheckResult(passed=not off_target, metadata=failures(off_target, OFF_TARGET_COLUMNS))


# `on`: the opt-out's date, or the other month the person was handed off in.
UNWANTED_COLUMNS = ("survey_id", "sampling_month", "survey_strand", "policing_area", "reason", "on")


@asset_check(asset="sampled_cohort", name=NO_OPTED_OUT_OR_RECENT, partitions_def=monthly_partitions, blocking=True,
             description="No one in the cohort had opted out before the month was sent (any opt-out, while it "
                         "is unsent), or was handed off within recontact_months months before or after it.")
@each_partition
def no_opted_out_or_recently_surveyed(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, survey: SurveySettings
) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        # One row per person and reason; survey_id is the pseudonym the contractor holds, never a name.
        unwanted = conn.execute(
            """WITH cohort AS (
                        SELECT c.*, coalesce(s.sent_at, 'infinity'::TIMESTAMP) AS settled_at
                        FROM intermediate.sampled_cohort c LEFT JOIN ops.sent_months s USING (sampling_month)
                        WHERE report_date >= $1 AND report_date < $2),
                    other_months AS (
                        SELECT person_key, report_month AS sampling_month FROM intermediate.sampling_frame
                        WHERE selection = 'SAMPLED'
                        UNION ALL
                        SELECT person_key, sampling_month FROM ops.contact_history)
               SELECT DISTINCT c.survey_id, strftime(c.sampling_month, '%Y-%m'), c.survey_strand, c.policing_area,
                      'OPTED_OUT ' || r.channel || CASE WHEN r.person_key = c.person_key THEN ' (person)'
                                                        ELSE ' (phone)' END,
                      strftime(r.opted_out_on, '%Y-%m-%d')
               FROM cohort c JOIN ops.opt_out_register r
                 ON (r.person_key = c.person_key OR r.phone_key = c.phone_key) AND r.recorded_at < c.settled_at
               UNION
               SELECT c.survey_id, strftime(c.sampling_month, '%Y-%m'), c.survey_strand, c.policing_area,
                      'RECENTLY_SURVEYED (also handed off within ' || $3 || ' months)',
                      strftime(e.sampling_month, '%Y-%m')
               FROM cohort c JOIN other_months e
                 ON e.person_key = c.person_key
                AND e.sampling_month <> c.sampling_month
                AND e.sampling_month >= c.sampling_month - $3 * INTERVAL 1 MONTH
                AND e.sampling_month <= c.sampling_month + $3 * INTERVAL 1 MONTH
               ORDER BY ALL""",
            [*_window(context), survey.recontact_months],
        ).fetchall()
    opted_out = len({row[0] for row in unwanted if row[4].startswith("OPTED_OUT")})
    recent = len({row[0] for row in unwanted if row[4].startswith("RECENTLY_SURVEYED")})
    return AssetCheckResult(
        passed=not unwanted,
        metadata={"opted_out_in_cohort": opted_out, "recently_surveyed_in_cohort": recent,
                  **failures(unwanted, UNWANTED_COLUMNS)},
    )


WEIGHT_COLUMNS = ("month", "force_code", "survey_strand", "policing_area", "eligible", "sum_of_weights")


@asset_check(asset="sampled_cohort", name=WEIGHTS_ADD_UP, partitions_def=monthly_partitions, blocking=True,
             description="In each stratum the design weights of the sampled add up to the stratum's eligible count.")
@each_partition
def weights_add_up_to_eligible(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        wrong = conn.execute(
            f"""WITH frame AS (
                    SELECT {STRATUM}, report_month,
                           count(*) FILTER (WHERE selection IN ('SAMPLED', 'NOT_SAMPLED')) AS eligible
                    FROM intermediate.sampling_frame
                    WHERE report_date >= $1 AND report_date < $2 GROUP BY ALL),
                cohort AS (
                    SELECT {STRATUM}, sampling_month AS report_month, sum(design_weight) AS weights
                    FROM intermediate.sampled_cohort
                    WHERE report_date >= $1 AND report_date < $2 GROUP BY ALL)
                SELECT strftime(report_month, '%Y-%m'), {STRATUM}, frame.eligible, coalesce(cohort.weights, 0)
                FROM frame LEFT JOIN cohort USING ({STRATUM}, report_month)
                WHERE frame.eligible > 0 AND abs(coalesce(cohort.weights, 0) - frame.eligible) > 1e-6
                ORDER BY ALL""",
            _window(context),
        ).fetchall()
    return AssetCheckResult(passed=not wrong, metadata={"strata_whose_weights_differ": len(wrong),
                                                        **failures(wrong, WEIGHT_COLUMNS)})


@asset_check(asset="sampled_cohort", name=COHORT_EXPECTATIONS, partitions_def=monthly_partitions, blocking=True,
             description="Great Expectations suite: uniqueness, value sets, ranges and formats of the cohort.")
@each_partition
def cohort_expectations(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, survey: SurveySettings
) -> AssetCheckResult:
    from vsat_assets.expectations import validate

    start, end = _window(context)
    with warehouse.get_connection() as conn:
        # Only the columns the suite needs: names never leave the warehouse.
        frame = conn.execute(
            """SELECT survey_id, survey_strand, policing_area, design_weight,
                      date_diff('day', contact_from, contact_until) AS window_days,
                      -- blank only once purged after retention
                      coalesce(regexp_full_match(phone_number, '0[1237][0-9]{9}'), true) AS phone_well_formed
               FROM intermediate.sampled_cohort WHERE report_date >= $1 AND report_date < $2""",
            [start, end],
        ).df()
        # The rates the months were drawn with: a settled month keeps the weights it was sent with.
        drawn_rate = conn.execute(
            """SELECT min(target_rate) FROM intermediate.sampling_frame
               WHERE selection = 'SAMPLED' AND report_date >= $1 AND report_date < $2""", [start, end]).fetchall()[0][0]
    max_weight = 1 / (drawn_rate or min(survey.sample_rates().values())) * 2
    # Row rules without settings (survey_id not null, window open at hand-off) are the model's YAML tests.
    result = validate(frame, "sampled_cohort", [
        ("ExpectColumnValuesToBeUnique", {"column": "survey_id"}),
        ("ExpectColumnValuesToBeInSet", {"column": "survey_strand", "value_set": list(SURVEY_STRANDS)}),
        ("ExpectColumnValuesToBeInSet", {"column": "policing_area", "value_set": list(survey.policing_areas)}),
        ("ExpectColumnValuesToBeBetween", {"column": "design_weight", "min_value": 1, "max_value": max_weight}),
        ("ExpectColumnValuesToBeInSet", {"column": "window_days",
                                          "value_set": [survey.contact_until_days - survey.contact_from_days]}),
        ("ExpectColumnValuesToBeInSet", {"column": "phone_well_formed", "value_set": [True]}),
    ])
    return AssetCheckResult(
        passed=result.success,
        metadata={"rows": len(frame), "expectations": result.evaluated,
                  "failed": MetadataValue.json(result.failures),
                  "failed_details": MetadataValue.json(result.details)},
    )
