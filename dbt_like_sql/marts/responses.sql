-- One row per contractor outcome, pseudonymous: what analysts recompute the tables from.
select
    survey_id,
    -- Financial years run April to March: shifting by three months makes the calendar year the FY's first year.
    strftime(sampling_month - interval 3 month, '%Y') || '/'
        || strftime(sampling_month + interval 9 month, '%y') as financial_year,
    strftime(sampling_month, '%Y-%m') as month,
    sampling_month as month_start,
    survey_strand,
    policing_area as area,
    design_weight,
    -- set by the annual response_weights asset (non-response calibration of the financial year)
    cast(null as double) as calibrated_weight,
    outcome,
    ease_of_contact,
    actions_taken,
    kept_informed,
    treatment,
    whole_experience,
    case
        when victim_ethnicity = 'WHITE' then 'WHITE'
        when victim_ethnicity in ('MIXED', 'ASIAN', 'BLACK', 'OTHER') then 'ETHNIC_MINORITY'
        else 'NOT_STATED'
    end as ethnic_group,
    force_code
from {{ source('staging', 'survey_responses') }}
where sampling_month >= {{ window_start }}
  and sampling_month < {{ window_end }}
