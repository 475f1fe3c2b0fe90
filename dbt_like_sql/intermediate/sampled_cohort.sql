-- The sampled victims with what the contractor needs to call them.
with sampled as (
    select *
    from {{ ref('sampling_frame') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
      and selection = 'SAMPLED'
),

contact_details as (
    select crime_reference, victim_person_id, victim_title, victim_forename, victim_surname, phone_normalised
    from {{ ref('stg_reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
)

select
    sampled.report_month as sampling_month,
    sampled.report_date,
    sampled.survey_id,
    sampled.person_key,
    sampled.phone_key,
    sampled.force_code,
    sampled.survey_strand,
    sampled.policing_area,
    sampled.victim_ethnicity,
    contact_details.victim_title as title,
    contact_details.victim_forename as forename,
    contact_details.victim_surname as surname,
    contact_details.phone_normalised as phone_number,
    sampled.handoff_date,
    sampled.contact_from,
    sampled.contact_until,
    sampled.design_weight,
    sampled.stratum_eligible,
    sampled.stratum_sampled
from sampled
join contact_details using (crime_reference, victim_person_id)
