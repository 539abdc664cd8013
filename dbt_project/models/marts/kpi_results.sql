-- One row per period, unit and KPI (docs/kpis.md, "Result rows"): every registered department,
-- district and commune, plus the city roll-up (unit 01) for every KPI but DIGITIZED_RESULT.
-- Named kpi_results, not fct_, because analysts and `make kpis` are promised marts.kpi_results.
-- Incremental: a build recomputes whole periods, only those holding a day that changed files touch.
{{ config(materialized='incremental', unique_key='period', incremental_strategy='delete+insert') }}
-- depends_on: {{ ref('int_dossiers__latest') }}
-- depends_on: {{ ref('int_pakn__latest') }}
-- depends_on: {{ ref('int_ratings__latest') }}
-- depends_on: {{ source('audit', 'ingested_files') }}

with periods as (
    select * from {{ ref('int_periods') }}
    {% if is_incremental() %}
    where exists (select 1 from ({{ touched_days() }}) as touched where touched.day between start_on and end_on)
    {% endif %}
),

-- Every KPI but EID_AUTH counts each item once (one event per dossier, PAKN item or rating), so
-- per-day counts add up to any period and across units: summing a small daily table is far
-- cheaper than counting distinct keys over every (event, period) pair. (Events are read here and
-- for EID_AUTH below, not through one shared CTE, which DuckDB would materialise whole.)
daily as (
    select
        kpi_code,
        unit_code,
        event_on,
        count(*) filter (where is_numerator) as numerator,
        count(*) as denominator
    from {{ ref('int_kpi_events') }}
    where kpi_code <> 'EID_AUTH'
    group by kpi_code, unit_code, event_on
),

item_counts as (
    select
        periods.period_code,
        daily.kpi_code,
        grouping(daily.unit_code) = 1 as is_city_roll_up,
        coalesce(daily.unit_code, '01') as unit_code,
        sum(daily.numerator) as numerator,
        sum(daily.denominator) as denominator
    from daily
    inner join periods on daily.event_on between periods.start_on and periods.end_on
    group by grouping sets ((periods.period_code, daily.kpi_code, daily.unit_code), (periods.period_code, daily.kpi_code))
),

-- EID_AUTH counts applicants: distinct per unit, and recounted across the city (one person
-- applying to two units is one applicant of the city). Each applicant is first reduced to one row
-- per period and unit (a numerator when any of their dossiers there is): counting those rows gives
-- the distinct counts, far cheaper than count(distinct) over grouping sets.
applicants as (
    select
        periods.period_code,
        events.kpi_code,
        events.unit_code,
        events.counting_key,
        bool_or(events.is_numerator) as is_numerator
    from {{ ref('int_kpi_events') }} as events
    inner join periods on events.event_on between periods.start_on and periods.end_on
    where events.kpi_code = 'EID_AUTH'
    group by all
),

city_applicants as (
    select period_code, kpi_code, counting_key, bool_or(is_numerator) as is_numerator
    from applicants
    group by all
),

applicant_counts as (
    select
        period_code,
        kpi_code,
        false as is_city_roll_up,
        unit_code,
        count(*) filter (where is_numerator) as numerator,
        count(*) as denominator
    from applicants
    group by all
    union all
    select period_code, kpi_code, true, '01', count(*) filter (where is_numerator), count(*)
    from city_applicants
    group by all
),

counts as (
    select * from item_counts
    union all
    select * from applicant_counts
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
    from periods
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
