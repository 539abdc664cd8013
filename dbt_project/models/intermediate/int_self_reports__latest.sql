-- The latest report of every (unit, report period, indicator), by the dossiers' supersession
-- order. A small table rebuilt whole on every build.
select * except (lake_file, version_rank)
from (
    select
        *,
        row_number() over (
            partition by unit_code, period_code, indicator_code
            order by {{ supersession_order() }}
        ) as version_rank
    from {{ ref('stg_raw__self_reports') }}
) as versions
where version_rank = 1
