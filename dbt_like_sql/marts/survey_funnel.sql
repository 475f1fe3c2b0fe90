-- Reports to completed interviews per month, force, strand and area: each stage's count side by side.
with audit as (
    select
        month_start, force_code, survey_strand, area,
        sum(victims) as reports,
        sum(victims) filter (where reason = 'ELIGIBLE') as eligible,
        sum(victims) filter (where reason = 'OUT_OF_SCOPE') as out_of_scope,
        sum(victims) filter (where reason = 'UNDER_AGE') as under_age,
        sum(victims) filter (where reason = 'NOT_A_PERSON') as not_a_person,
        sum(victims) filter (where reason = 'POLICE_ON_DUTY') as police_on_duty,
        sum(victims) filter (where reason = 'DECEASED') as deceased,
        sum(victims) filter (where reason = 'SENSITIVE') as sensitive,
        sum(victims) filter (where reason = 'NOT_SAFE_TO_CONTACT') as not_safe_to_contact,
        sum(victims) filter (where reason = 'NO_PHONE') as no_phone,
        sum(victims) filter (where reason = 'OPTED_OUT') as opted_out,
        sum(victims) filter (where reason = 'RECENTLY_SURVEYED') as recently_surveyed,
        sum(victims) filter (where reason = 'DUPLICATE_IN_MONTH') as duplicate_in_month,
        sum(victims) filter (where reason = 'WINDOW_CLOSED') as window_closed
    from {{ ref('exclusion_audit') }}
    where month_start >= {{ window_start }}
      and month_start < {{ window_end }}
    group by all
),

cohort as (
    select
        sampling_month as month_start, force_code, survey_strand, policing_area as area,
        count(*) as sampled,
        count(*) filter (
            where sampling_month in (select sampling_month from {{ source('ops', 'handoff_log') }})
        ) as handed_off
    from {{ ref('sampled_cohort') }}
    where sampling_month >= {{ window_start }}
      and sampling_month < {{ window_end }}
    group by all
),

interviews as (
    select month_start, force_code, survey_strand, area, count(*) as completed
    from {{ ref('responses') }}
    where month_start >= {{ window_start }}
      and month_start < {{ window_end }}
      and outcome = 'COMPLETE'
    group by all
)

select
    strftime(month_start, '%Y-%m') as month,
    month_start,
    force_code,
    survey_strand,
    area,
    coalesce(audit.reports, 0)::BIGINT as reports,
    coalesce(audit.eligible, 0)::BIGINT as eligible,
    coalesce(audit.out_of_scope, 0)::BIGINT as out_of_scope,
    coalesce(audit.under_age, 0)::BIGINT as under_age,
    coalesce(audit.not_a_person, 0)::BIGINT as not_a_person,
    coalesce(audit.police_on_duty, 0)::BIGINT as police_on_duty,
    coalesce(audit.deceased, 0)::BIGINT as deceased,
    coalesce(audit.sensitive, 0)::BIGINT as sensitive,
    coalesce(audit.not_safe_to_contact, 0)::BIGINT as not_safe_to_contact,
    coalesce(audit.no_phone, 0)::BIGINT as no_phone,
    coalesce(audit.opted_out, 0)::BIGINT as opted_out,
    coalesce(audit.recently_surveyed, 0)::BIGINT as recently_surveyed,
    coalesce(audit.duplicate_in_month, 0)::BIGINT as duplicate_in_month,
    coalesce(audit.window_closed, 0)::BIGINT as window_closed,
    coalesce(cohort.sampled, 0)::BIGINT as sampled,
    coalesce(cohort.handed_off, 0)::BIGINT as handed_off,
    coalesce(interviews.completed, 0)::BIGINT as completed
from audit
full join cohort using (month_start, force_code, survey_strand, area)
full join interviews using (month_start, force_code, survey_strand, area)
