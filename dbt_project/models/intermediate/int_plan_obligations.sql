-- One row per obligation: a milestone of the task catalogue owed by one unit. A group lead
-- (ALL_DEPARTMENTS, ALL_DISTRICTS) owes it once per registered unit of its level; the same
-- expansion checks progress rows at ingestion (pipelines/ingest/reference.py, PlanCatalogue).
with leads as (
    select milestone_code, trim(lead_code) as lead_code
    from (
        select milestone_code, {{ split_into_rows('lead_codes', ';') }} as lead_code
        from {{ ref('plan_tasks') }}
    ) as split_leads
),

obligees as (
    select leads.milestone_code, units.unit_code
    from leads
    inner join {{ ref('units') }} as units on units.unit_code = leads.lead_code
    union
    select leads.milestone_code, units.unit_code
    from leads
    inner join {{ ref('lead_groups') }} as groups on groups.group_code = leads.lead_code
    inner join {{ ref('units') }} as units on units.level = groups.level
)

select
    obligees.milestone_code || ' ' || obligees.unit_code as obligation_key,
    obligees.milestone_code,
    obligees.unit_code,
    tasks.deadline,
    progress.done_on,
    progress.document_number,
    progress.drop_date as reported_in_drop,
    progress.file_hash
from obligees
inner join {{ ref('plan_tasks') }} as tasks using (milestone_code)
left join {{ ref('int_task_progress__latest') }} as progress using (milestone_code, unit_code)
