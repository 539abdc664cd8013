-- The latest report of every (milestone, unit), by the dossiers' supersession order. A latest
-- report without a date withdraws an earlier one: the milestone is not done.
-- A small table rebuilt whole on every build: a year holds a few thousand reports.
select * except (lake_file, version_rank)
from (
    select
        *,
        row_number() over (
            partition by milestone_code, unit_code
            order by {{ supersession_order() }}
        ) as version_rank
    from {{ ref('stg_raw__task_progress') }}
) as versions
where version_rank = 1
