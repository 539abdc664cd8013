-- One row per period, unit and KPI (docs/kpis.md, "Result rows"): every registered department,
-- district and commune, plus the city roll-up (unit 01) for every KPI but DIGITIZED_RESULT.
-- Named kpi_results, not fct_, because analysts and `make kpis` are promised marts.kpi_results.
with events_in_periods as (
    select periods.period_code, events.*
    from {{ ref('int_kpi_events') }} as events
    inner join {{ ref('int_periods') }} as periods
        on events.event_on between periods.start_on and periods.end_on
),

unit_counts as (
    select
        period_code,
        unit_code,
        kpi_code,
        count(distinct counting_key) filter (where is_numerator) as numerator,
        count(distinct counting_key) as denominator
    from events_in_periods
    group by all
),

city_counts as (
    select
        period_code,
        '01' as unit_code,
        kpi_code,
        count(distinct counting_key) filter (where is_numerator) as numerator,
        count(distinct counting_key) as denominator
    from events_in_periods
    group by all
),

grid as (
    select
        periods.period_code,
        units.unit_code,
        units.unit_name,
        units.level,
        kpis.kpi_code,
        case units.level
            when 'city' then kpis.target_city
            when 'department' then kpis.target_department
            when 'district' then kpis.target_district
            when 'commune' then kpis.target_commune
        end as target
    from {{ ref('int_periods') }} as periods
    cross join {{ ref('units') }} as units
    cross join {{ ref('kpis') }} as kpis
    where units.level in ('department', 'district', 'commune')
        or (units.level = 'city' and kpis.kpi_code <> 'DIGITIZED_RESULT')
),

counted as (
    select
        grid.*,
        coalesce(case when grid.level = 'city' then city.numerator else unit.numerator end, 0) as numerator,
        coalesce(case when grid.level = 'city' then city.denominator else unit.denominator end, 0) as denominator
    from grid
    left join unit_counts as unit using (period_code, unit_code, kpi_code)
    left join city_counts as city using (period_code, unit_code, kpi_code)
)

select
    period_code as period,
    unit_code,
    unit_name,
    kpi_code,
    numerator,
    denominator,
    {{ rate_half_up('numerator', 'denominator') }} as value,
    target::decimal(3, 2) as target,
    case
        when denominator = 0 then 'no_data'
        -- Decided on exact integers, never on the rounded value.
        when 100 * numerator >= round(target * 100)::bigint * denominator then 'met'
        else 'below'
    end as status
from counted
