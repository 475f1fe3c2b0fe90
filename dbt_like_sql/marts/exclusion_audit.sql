-- Why victims dropped out, per month, strand, area and reason: the funnel's first half.
with victims as (
    select *
    from {{ ref('victim_eligibility') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

screening as (
    select survey_id, selection
    from {{ ref('sampling_frame') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

outcomes as (
    select
        victims.report_month,
        victims.force_code,
        coalesce(victims.survey_strand, 'NOT_SURVEYED') as survey_strand,
        victims.policing_area,
        coalesce(
            victims.exclusion_reason,
            case when screening.selection in ('SAMPLED', 'NOT_SAMPLED') then 'ELIGIBLE' else screening.selection end
        ) as reason
    from victims
    left join screening using (survey_id)
)

select
    report_month as month_start,
    strftime(report_month, '%Y-%m') as month,
    force_code,
    survey_strand,
    policing_area as area,
    reason,
    count(*) as victims
from outcomes
group by all
