-- The victims who may be surveyed this month, with no names or phone numbers:
-- sampled_cohort fetches those for the few it selects.
select
    report_month,
    report_date,
    force_code,
    crime_reference,
    victim_person_id,
    survey_id,
    person_key,
    phone_key,
    survey_strand,
    policing_area,
    victim_ethnicity
from {{ ref('victim_eligibility') }}
where report_date >= {{ window_start }}
  and report_date < {{ window_end }}
  and exclusion_reason is null
