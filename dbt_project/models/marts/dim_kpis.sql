select
    kpi_code,
    name_vi,
    short_name_vi,
    name_en,
    target_department,
    target_district,
    target_commune,
    target_city,
    period_by,
    plan_section,
    kpi_order,
    source
from {{ ref('kpis') }}
