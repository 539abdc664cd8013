-- The latest report of every (unit, report period, indicator), by the dossiers' supersession
-- order. A small table rebuilt whole on every build.
select * exclude (lake_file)
from {{ ref('stg_raw__self_reports') }}
qualify row_number() over (
    partition by unit_code, period_code, indicator_code
    order by {{ supersession_order() }}
) = 1
