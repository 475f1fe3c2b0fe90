-- Every victim of the month's reports, passing eligibility rules 1-9 (docs/method.md, Eligibility)
-- or excluded by the first that matches. Rules 10 (RECENTLY_SURVEYED) and 11
-- (DUPLICATE_IN_MONTH) follow in sampling_frame, which sees the earlier months' samples.
-- Only the columns the rules read: this CTE is read twice, so DuckDB materialises it, and
-- the names and dates of birth of stg_reports would be copied for nothing (about a third of
-- the model's time at national volume).
with victims as (
    select report_month, report_date, force_code, crime_reference, victim_person_id, survey_strand,
           policing_area, victim_ethnicity, victim_age, phone_normalised, is_organisation, police_on_duty,
           is_deceased, is_sensitive, is_domestic_abuse, safe_to_contact
    from {{ ref('stg_reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

-- An opt-out counts from when the platform learned of it (recorded_at), for every month not
-- yet sent; a sent month is settled, so only the opt-outs recorded before it was sent count
-- there, and re-running it gives the same answer.
opt_outs_by_person as (
    select person_key, min(recorded_at) as recorded_at
    from {{ source('ops', 'opt_out_register') }}
    where person_key is not null
    group by person_key
),

opt_outs_by_phone as (
    select phone_key, min(recorded_at) as recorded_at
    from {{ source('ops', 'opt_out_register') }}
    where phone_key is not null
    group by phone_key
),

sent as (
    select sampling_month as report_month, sent_at
    from {{ source('ops', 'sent_months') }}
    where sampling_month >= {{ window_start }}
      and sampling_month < {{ window_end }}
),

rules_1_to_8 as (
    select
        victims.*,
        case
            when 'OUT_OF_SCOPE' in {{ var('exclusion_rules') }} and survey_strand is null then 'OUT_OF_SCOPE'
            when 'UNDER_AGE' in {{ var('exclusion_rules') }} and victim_age < {{ var('min_age') }} then 'UNDER_AGE'
            when 'NOT_A_PERSON' in {{ var('exclusion_rules') }} and is_organisation then 'NOT_A_PERSON'
            when 'POLICE_ON_DUTY' in {{ var('exclusion_rules') }} and police_on_duty then 'POLICE_ON_DUTY'
            when 'DECEASED' in {{ var('exclusion_rules') }} and is_deceased then 'DECEASED'
            when 'SENSITIVE' in {{ var('exclusion_rules') }} and is_sensitive then 'SENSITIVE'
            when 'NOT_SAFE_TO_CONTACT' in {{ var('exclusion_rules') }} and is_domestic_abuse and not safe_to_contact
                then 'NOT_SAFE_TO_CONTACT'
            when 'NO_PHONE' in {{ var('exclusion_rules') }} and phone_normalised is null then 'NO_PHONE'
        end as early_reason
    from victims
),

in_the_running as (
    select * from rules_1_to_8 where early_reason is null
),

-- Keyed hashes (two SHA-256s each) once per distinct person and phone still in the running, not per report.
person_keys as (
    select force_code, victim_person_id,
           vsat_pseudonym('person', force_code || '/' || victim_person_id) as person_key
    from (select distinct force_code, victim_person_id from in_the_running)
),

phone_keys as (
    select phone_normalised, vsat_pseudonym('phone', phone_normalised) as phone_key
    from (select distinct phone_normalised from in_the_running)
),

keyed as (
    select
        in_the_running.*,
        person_keys.person_key,
        phone_keys.phone_key,
        vsat_pseudonym(force_code || '/' || victim_person_id, crime_reference) as survey_id
    from in_the_running
    left join person_keys using (force_code, victim_person_id)
    left join phone_keys using (phone_normalised)
),

-- Rule 9. A match on any of a person's reports of the month opts the person out: a register
-- entry by phone also covers their reports that give another number.
rule_9 as (
    select
        keyed.*,
        case when 'OPTED_OUT' in {{ var('exclusion_rules') }} and bool_or(
            coalesce(by_person.recorded_at < coalesce(sent.sent_at, 'infinity'::timestamp), false)
            or coalesce(by_phone.recorded_at < coalesce(sent.sent_at, 'infinity'::timestamp), false)
        ) over (partition by keyed.force_code, keyed.victim_person_id, keyed.report_month)
        then 'OPTED_OUT' end as opt_out_reason
    from keyed
    left join opt_outs_by_person by_person using (person_key)
    left join opt_outs_by_phone by_phone using (phone_key)
    left join sent using (report_month)
),

-- Excluded by rules 1-8 (no keys computed), then the rest with rule 9's outcome.
decided as (
    select *, early_reason as exclusion_reason from rules_1_to_8 where early_reason is not null
    union all by name
    select *, opt_out_reason as exclusion_reason from rule_9
)

select
    report_month,
    report_date,
    force_code,
    crime_reference,
    victim_person_id,
    survey_strand,
    policing_area,
    victim_ethnicity,
    exclusion_reason,
    case when exclusion_reason is null then survey_id end as survey_id,
    person_key,
    phone_key
from decided
