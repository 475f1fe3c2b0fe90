-- One row per victim of a report in the window, typed and with the survey strand derived.
with reports as (
    select *
    from {{ source('raw', 'reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

offences as (
    select offence_code, nullif(survey_strand, '') as offence_strand
    from {{ source('raw', 'offences') }}
),

derived as (
    select
        reports.*,
        date_trunc('month', report_date)::date as report_month,
        case
            when offences.offence_strand is null then null
            when is_domestic_abuse then 'DOMESTIC_ABUSE'
            else offences.offence_strand
        end as survey_strand,
        date_sub('year', victim_date_of_birth, report_date) as victim_age,
        normalise_uk_phone(victim_phone) as phone_normalised
    from reports
    left join offences using (offence_code)
)

select
    force_code,
    crime_reference,
    report_date,
    report_month,
    record_type,
    offence_code,
    survey_strand,
    policing_area,
    victim_person_id,
    victim_title,
    victim_forename,
    victim_surname,
    victim_date_of_birth,
    victim_age,
    phone_normalised,
    victim_ethnicity,
    is_organisation,
    police_on_duty,
    is_deceased,
    is_sensitive,
    is_domestic_abuse,
    coalesce(safe_to_contact, false) as safe_to_contact
from derived
