-- The registry's units and the three level roll-up rows of the results (CAP_TP, CAP_HUYEN,
-- CAP_XA), in the order of every report: the city, the levels, then the registry.
with units as (
    select
        units.unit_code,
        units.unit_name,
        units.level,
        null as rolls_up_level,
        units.parent_code,
        parents.unit_name as parent_name,
        units.unit_kind,
        case when units.level = 'city' then 0 else 2 end as block,
        units.registry_order as order_in_block
    from {{ ref('units') }} as units
    left join {{ ref('units') }} as parents on parents.unit_code = units.parent_code
    union all
    select
        roll_ups.unit_code,
        roll_ups.unit_name,
        'roll_up',
        roll_ups.rolls_up_level,
        city.unit_code,
        city.unit_name,
        'cấp',
        1,
        roll_ups.roll_up_order
    from {{ ref('roll_ups') }} as roll_ups
    cross join (select * from {{ ref('units') }} where level = 'city') as city
)

select
    unit_code,
    unit_name,
    level,
    rolls_up_level,
    parent_code,
    parent_name,
    unit_kind,
    (row_number() over (order by block, order_in_block))::integer as registry_order
from units
