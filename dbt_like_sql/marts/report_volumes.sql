-- Reports per month, strand and area: no personal data.
with victims as (
    select *
    from {{ ref('stg_reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
)

select
    report_month as month_start,
    strftime(report_month, '%Y-%m') as month,
    force_code,
    coalesce(survey_strand, 'NOT_SURVEYED') as survey_strand,
    policing_area as area,
    record_type,
    count(*) as reports
from victims
group by all
