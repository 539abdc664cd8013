{{ config(meta={"dagster": {"ref": {"name": "fct_form06_statistics"}}}) }}
-- Where two periods abut (one starts the day after the other ends), the later one's carried over
-- is the earlier one's in progress, row by row and sector by sector.
with abutting as (
    select earlier.period_code as earlier_period, later.period_code as later_period
    from {{ ref('int_periods') }} as earlier
    inner join {{ ref('int_periods') }} as later on later.start_on = earlier.end_on + 1
    where later.state <> 'not_started'
),

earlier as (
    select abutting.later_period, form.unit_code, form.sector_code, form.in_progress_total
    from {{ ref('fct_form06_statistics') }} as form
    inner join abutting on abutting.earlier_period = form.period
),

later as (
    select form.period as later_period, form.unit_code, form.sector_code, form.carried_over
    from {{ ref('fct_form06_statistics') }} as form
    where form.period in (select later_period from abutting)
)

select *
from earlier
full outer join later
    on later.later_period = earlier.later_period
    and later.unit_code = earlier.unit_code
    and later.sector_code is not distinct from earlier.sector_code
where coalesce(earlier.in_progress_total, 0) <> coalesce(later.carried_over, 0)
