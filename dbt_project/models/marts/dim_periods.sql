select
    period_code,
    period_kind,
    year,
    start_on,
    end_on,
    evaluation_on,
    state,
    name_vi,
    name_en,
    (row_number() over (order by year, order_in_year))::integer as period_order
from {{ ref('int_periods') }}
