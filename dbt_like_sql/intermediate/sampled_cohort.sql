-- The sampled victims with what the contractor needs to call them. Past the boundary of the
-- latest retention purge their names and phone numbers stay blank: a rebuild or backfill
-- cannot bring them back from staging.
with sampled as (
    select *
    from {{ ref('sampling_frame') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
      and selection = 'SAMPLED'
),

contact_details as (
    select force_code, crime_reference, victim_person_id, victim_title, victim_forename, victim_surname, phone_normalised
    from {{ ref('stg_reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

retention as (
    select max(purged_before) as purged_before from {{ source('ops', 'retention_log') }}
),

kept as (
    select sampled.*, coalesce(sampled.contact_until >= retention.purged_before, true) as within_retention
    from sampled cross join retention
)

select
    kept.report_month as sampling_month,
    kept.report_date,
    kept.survey_id,
    kept.person_key,
    kept.phone_key,
    kept.force_code,
    kept.survey_strand,
    kept.policing_area,
    kept.victim_ethnicity,
    case when kept.within_retention then contact_details.victim_title end as title,
    case when kept.within_retention then contact_details.victim_forename end as forename,
    case when kept.within_retention then contact_details.victim_surname end as surname,
    case when kept.within_retention then contact_details.phone_normalised end as phone_number,
    kept.handoff_date,
    kept.contact_from,
    kept.contact_until,
    kept.design_weight,
    kept.stratum_eligible,
    kept.stratum_sampled
from kept
join contact_details using (force_code, crime_reference, victim_person_id)
