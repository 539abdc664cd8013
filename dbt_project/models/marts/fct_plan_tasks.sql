-- Every obligation of the plan's key tasks (a milestone owed by one unit) and its state at the
-- data date D (docs/plan-tasks.md): done on time or late, overdue, due within 30 days, or not yet
-- due. The "việc chậm, việc sắp đến hạn" list of the report and the alerts.
with obligations as (
    select * from {{ ref('int_plan_obligations') }}
),

dates as (
    select data_date from {{ ref('int_data_date') }}
)

select
    obligations.obligation_key,
    obligations.milestone_code,
    tasks.task_number,
    tasks.milestone_number,
    tasks.plan_section,
    tasks.task_vi,
    tasks.product_vi,
    obligations.unit_code,
    units.unit_name,
    units.level,
    tasks.lead_codes,
    obligations.deadline,
    tasks.deadline_as_written,
    tasks.note as deadline_note,
    obligations.done_on,
    obligations.document_number,
    obligations.reported_in_drop,
    dates.data_date,
    case
        when obligations.done_on <= obligations.deadline then 'done_on_time'
        when obligations.done_on is not null then 'done_late'
        when obligations.deadline < dates.data_date then 'overdue'
        when obligations.deadline <= dates.data_date + 30 then 'due_soon'
        else 'not_yet_due'
    end as state,
    case when obligations.done_on is null and obligations.deadline < dates.data_date then ({{ dbt.datediff('obligations.deadline', 'dates.data_date', 'day') }})::integer end
        as days_overdue
from obligations
inner join {{ ref('plan_tasks') }} as tasks using (milestone_code)
inner join {{ ref('units') }} as units using (unit_code)
cross join dates
