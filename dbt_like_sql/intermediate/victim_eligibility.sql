-- Every victim of the month's reports, passing rules 1-9 of the domain brief (section 3)
-- or excluded by the first that matches. Rules 10 (RECENTLY_SURVEYED) and 11
-- (DUPLICATE_IN_MONTH) follow in sampling_frame, which sees the earlier months' samples.
with victims as (
    select *
    from {{ ref('stg_reports') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

-- Opt-outs received before the month's hand-off: re-running a month gives the same answer.
opt_outs as (
    select person_key, phone_key, opted_out_on
    from {{ source('ops', 'opt_out_register') }}
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

-- Pseudonyms cost a keyed hash each: only for victims still in the running.
keyed as (
    select
        rules_1_to_8.*,
        case when early_reason is null
            then vsat_pseudonym('person', force_code || '/' || victim_person_id) end as person_key,
        case when early_reason is null
            then vsat_pseudonym('phone', phone_normalised) end as phone_key,
        case when early_reason is null
            then vsat_pseudonym(force_code || '/' || victim_person_id, crime_reference) end as survey_id
    from rules_1_to_8
),

-- A person is opted out for the month if any of their reports matches the register:
-- a register entry by phone must also cover their reports that give another number.
rule_9 as (
    select
        keyed.*,
        coalesce(
            early_reason,
            case when 'OPTED_OUT' in {{ var('exclusion_rules') }} and bool_or(exists (
                select 1 from opt_outs
                where (opt_outs.person_key = keyed.person_key or opt_outs.phone_key = keyed.phone_key)
                  and opt_outs.opted_out_on
                      < keyed.report_month + interval 1 month + ({{ var('handoff_day') }} - 1) * interval 1 day
            )) over (partition by force_code, victim_person_id, report_month, early_reason is null)
            then 'OPTED_OUT' end
        ) as exclusion_reason
    from keyed
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
from rule_9
