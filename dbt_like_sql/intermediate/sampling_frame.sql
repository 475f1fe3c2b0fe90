-- The month's eligible victims put through the rules that need the earlier months'
-- samples (10 RECENTLY_SURVEYED, then 11 DUPLICATE_IN_MONTH), opt-outs recorded since
-- eligibility was built, and closed windows; then a stratified random sample: within each
-- force x strand x area, victims are ordered by a keyed hash of the seed and their
-- survey_id and the first round(rate * eligible) are taken.
-- Built month by month, in order, so that each month sees who the months before it sampled.
-- A settled (sent) month keeps its stored rows: the runner does not rebuild it.
with eligible as (
    select *
    from {{ ref('eligible_victims') }}
    where report_date >= {{ window_start }}
      and report_date < {{ window_end }}
),

handoff as (
    select ({{ window_end }} + ({{ var('handoff_day') }} - 1) * interval 1 day)::date as handoff_date
),

recently_handed_off as (
    select distinct person_key
    from {{ this }}
    where selection = 'SAMPLED'
      and report_date >= {{ window_start }} - {{ var('recontact_months') }} * interval 1 month
      and report_date < {{ window_start }}
    union
    select person_key
    from {{ source('ops', 'contact_history') }}
    where sampling_month >= {{ window_start }} - {{ var('recontact_months') }} * interval 1 month
      and sampling_month < {{ window_start }}
),

-- Handed off in one of the 12 months AFTER this one: only when months were built out of
-- order. They stay in the stratum's count but are passed over in the draw (the next in the
-- order is taken), so a month built in order draws exactly as before.
handed_off_later as (
    select distinct person_key
    from {{ this }}
    where selection = 'SAMPLED'
      and report_date >= {{ window_end }}
      and report_date < {{ window_start }} + ({{ var('recontact_months') }} + 1) * interval 1 month
    union
    select person_key
    from {{ source('ops', 'contact_history') }}
    where sampling_month >= {{ window_end }}
      and sampling_month < {{ window_start }} + ({{ var('recontact_months') }} + 1) * interval 1 month
),

-- This month is not sent (a sent month is not rebuilt): every opt-out recorded so far counts.
opted_out_persons as (
    select distinct person_key
    from {{ source('ops', 'opt_out_register') }}
    where person_key is not null
),

opted_out_phones as (
    select distinct phone_key
    from {{ source('ops', 'opt_out_register') }}
    where phone_key is not null
),

screened_by_person as (
    select
        eligible.*,
        handoff.handoff_date,
        (eligible.report_date + {{ var('contact_from_days') }} * interval 1 day)::date as contact_from,
        (eligible.report_date + {{ var('contact_until_days') }} * interval 1 day)::date as contact_until,
        case
            when 'RECENTLY_SURVEYED' in {{ var('exclusion_rules') }} and recent.person_key is not null
                then 'RECENTLY_SURVEYED'
            when 'OPTED_OUT' in {{ var('exclusion_rules') }} and bool_or(
                by_person.person_key is not null or by_phone.phone_key is not null
            ) over (partition by eligible.force_code, eligible.victim_person_id) then 'OPTED_OUT'
            when contact_until <= handoff.handoff_date then 'WINDOW_CLOSED'
        end as screened_by_person
    from eligible
    cross join handoff
    left join recently_handed_off recent on recent.person_key = eligible.person_key
    left join opted_out_persons by_person on by_person.person_key = eligible.person_key
    left join opted_out_phones by_phone on by_phone.phone_key = eligible.phone_key
),

-- Rule 11: of a person's remaining reports this month, the earliest is kept.
screened as (
    select
        screened_by_person.*,
        case
            when screened_by_person is not null then screened_by_person
            when 'DUPLICATE_IN_MONTH' in {{ var('exclusion_rules') }} and row_number() over (
                partition by force_code, victim_person_id, screened_by_person is null
                order by report_date, crime_reference
            ) > 1 then 'DUPLICATE_IN_MONTH'
        end as screened_out
    from screened_by_person
),

candidates as (
    select
        screened.*,
        -- the strand's rate, lowered for the month when it would sample more than the strand's monthly cap
        case when {{ var('monthly_caps') }}[survey_strand] > 0 then least(
            {{ var('sample_rates') }}[survey_strand]::double,
            {{ var('monthly_caps') }}[survey_strand] / count(*) over (partition by report_month, force_code, survey_strand)
        ) else {{ var('sample_rates') }}[survey_strand]::double end as target_rate,
        count(*) over stratum as stratum_eligible,
        count(*) filter (where later.person_key is null) over stratum as stratum_drawable,
        row_number() over (
            stratum order by later.person_key is not null, md5({{ var('sample_seed') }} || '/' || survey_id), survey_id
        ) as draw_order
    from screened
    left join handed_off_later later on later.person_key = screened.person_key
    where screened_out is null
    window stratum as (partition by report_month, force_code, survey_strand, policing_area)
),

drawn as (
    select
        candidates.*,
        -- at least one per stratum, so every stratum is represented and its weights add up
        least(greatest(1, round(target_rate * stratum_eligible)), stratum_drawable)::integer as stratum_sampled
    from candidates
)

select
    screened.report_month,
    screened.report_date,
    screened.force_code,
    screened.crime_reference,
    screened.victim_person_id,
    screened.survey_id,
    screened.person_key,
    screened.phone_key,
    screened.survey_strand,
    screened.policing_area,
    screened.victim_ethnicity,
    screened.handoff_date,
    screened.contact_from,
    screened.contact_until,
    case
        when screened.screened_out is not null then screened.screened_out
        when drawn.draw_order <= drawn.stratum_sampled then 'SAMPLED'
        else 'NOT_SAMPLED'
    end as selection,
    drawn.target_rate,
    drawn.stratum_eligible,
    drawn.stratum_sampled,
    case when drawn.draw_order <= drawn.stratum_sampled
        then drawn.stratum_eligible / drawn.stratum_sampled end as design_weight
from screened
left join drawn using (survey_id)
