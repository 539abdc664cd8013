-- One row per item a KPI counts: which unit, the day that places it in a period, the key it is
-- counted by (distinct), and whether it counts in the numerator. Every KPI is then the same
-- aggregation, and the city row recounts distinct keys (applicants for EID_AUTH) across units.
-- A view: kpi_results reads only the periods it recomputes, so storing every event would cost more.
{{ config(materialized='view') }}

with dossiers as (
    select * from {{ ref('int_dossiers__latest') }}
)

select 'ONTIME' as kpi_code, unit_code, finish_on as event_on, dossier_id as counting_key, is_on_time as is_numerator
from dossiers
where is_resolved and sector_group = 'OTHER'

union all
select 'ONTIME_TNMT_KHDT', unit_code, finish_on, dossier_id, is_on_time
from dossiers
where is_resolved and sector_group in ('TNMT', 'KHDT')

union all
select 'DIGITIZED_RESULT', unit_code, finish_on, dossier_id, result_digitized
from dossiers
where is_resolved

union all
select 'FULLY_ONLINE', unit_code, received_on, dossier_id, is_fully_online
from dossiers
where is_received

union all
select 'EID_AUTH', unit_code, received_on, applicant_key, vneid_authenticated
from dossiers
where is_received and is_online

-- An item counts once its outcome is decided at the data date D: due by D, or handled and
-- published by D. One due later and still open is not yet due, neither late nor on time.
union all
select
    'PAKN_ONTIME',
    pakn.unit_code,
    pakn.due_on,
    pakn.pakn_id,
    coalesce(pakn.handled_on <= pakn.due_on and pakn.published_on <= pakn.due_on, false)
from {{ ref('int_pakn__latest') }} as pakn
cross join {{ ref('int_data_date') }} as dates
where pakn.due_on <= dates.data_date
    or (pakn.handled_on <= dates.data_date and pakn.published_on <= dates.data_date)

union all
select 'SATISFACTION', unit_code, rated_on, dossier_id, satisfaction_level >= 4
from {{ ref('int_ratings__latest') }}

-- A key task's obligation counts on its deadline once its outcome is decided at D: the deadline
-- has passed, or it was done by D (docs/plan-tasks.md). Done on or before the deadline is on time.
union all
select
    'TASKS_ONTIME',
    obligations.unit_code,
    obligations.deadline,
    obligations.obligation_key,
    coalesce(obligations.done_on <= obligations.deadline, false)
from {{ ref('int_plan_obligations') }} as obligations
cross join {{ ref('int_data_date') }} as dates
where obligations.deadline <= dates.data_date or obligations.done_on <= dates.data_date
