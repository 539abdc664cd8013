-- One row per period, unit and KPI (docs/kpis.md, "Result rows"): every registered department,
-- district and commune, plus the city roll-up (unit 01) for every KPI but DIGITIZED_RESULT.
-- Named kpi_results, not fct_, because analysts and `make kpis` are promised marts.kpi_results.
with events_in_periods as (
    select periods.period_code, events.*
    from {{ ref('int_kpi_events') }} as events
    inner join {{ ref('int_periods') }} as periods
        on events.event_on between periods.start_on and periods.end_on
),

-- Each unit's counts and the city roll-up in one pass; the roll-up recounts distinct keys.
counts as (
    select
        period_code,
        kpi_code,
        grouping(unit_code) = 1 as is_city_roll_up,
        coalesce(unit_code, '01') as unit_code,
        count(distinct counting_key) filter (where is_numerator) as numerator,
        count(distinct counting_key) as denominator
    from events_in_periods
    group by grouping sets ((period_code, kpi_code, unit_code), (period_code, kpi_code))
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
        coalesce(counts.numerator, 0) as numerator,
        coalesce(counts.denominator, 0) as denominator
    from grid
    left join counts
        on counts.period_code = grid.period_code
        and counts.unit_code = grid.unit_code
        and counts.kpi_code = grid.kpi_code
        -- a dossier handled by the city itself (unit 01) counts only in the roll-up
        and counts.is_city_roll_up = (grid.level = 'city')
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
