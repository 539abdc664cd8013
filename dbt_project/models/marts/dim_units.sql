select
    units.unit_code,
    units.unit_name,
    units.level,
    units.parent_code,
    parents.unit_name as parent_name,
    units.unit_kind,
    units.registry_order
from {{ ref('units') }} as units
left join {{ ref('units') }} as parents on parents.unit_code = units.parent_code
