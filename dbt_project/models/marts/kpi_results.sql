-- One row per period, result row and KPI (docs/kpis.md, "Result rows"): the city (01, every KPI
-- but DIGITIZED_RESULT), the three level roll-ups (CAP_TP, CAP_HUYEN, CAP_XA) and every
-- registered department, district and commune. Each period is evaluated at E = min(end, D);
-- a period not started at the data date D is all no_data.
-- Named kpi_results, not fct_, because analysts and `make kpis` are promised marts.kpi_results.
-- Incremental: a build recomputes each KPI whole in the periods of its source of events
-- (kpis.event_source in int_recomputed_periods: those an item of a changed file spans, those whose
-- evaluation date the new data date moved) and in periods new to the table.
{{ config(materialized='incremental', unique_key=['period', 'kpi_code']) }}

with recomputed as (
    select periods.*, kpis.kpi_code
    from {{ ref('int_periods') }} as periods
    cross join {{ ref('kpis') }} as kpis
    where {{ is_recomputed_period('kpis.event_source') }}
),

started as (
    select * from recomputed where state <> 'not_started'
),

started_periods as (
    select distinct period_code, start_on, end_on, evaluation_on from started
),

backlog_periods as (
    select * from started where kpi_code = 'OPEN_WITHIN_DUE'
),

units as (
    select unit_code, level from {{ ref('units') }}
),

-- Every KPI but EID_AUTH and OPEN_WITHIN_DUE counts each item once, on one day, so per-day counts
-- add up to any period and across units: summing a small daily table is far cheaper than
-- counting distinct keys over every (event, period) pair. (Events are read here and for EID_AUTH
-- below, not through one shared CTE, which DuckDB would materialise whole.)
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

-- OPEN_WITHIN_DUE: the dossiers in progress at each period's evaluation date E, and of them
-- those not overdue (the due day itself is within time).
backlog as (
    select
        periods.period_code,
        'OPEN_WITHIN_DUE' as kpi_code,
        dossiers.unit_code,
        count(*) filter (where dossiers.due_on >= periods.evaluation_on) as numerator,
        count(*) as denominator
    from {{ ref('int_dossiers__latest') }} as dossiers
    -- two plain inequalities (an open dossier's finish is the far future): a range join
    inner join backlog_periods as periods
        on dossiers.received_on <= periods.evaluation_on
        and coalesce(dossiers.finish_on, date '9999-12-31') > periods.evaluation_on
    where dossiers.is_received and not dossiers.is_withdrawn_or_stopped
    group by all
),

additive_unit_counts as (
    select periods.period_code, daily.kpi_code, daily.unit_code, sum(daily.numerator) as numerator, sum(daily.denominator) as denominator
    from daily
    inner join started_periods as periods on daily.event_on between periods.start_on and periods.end_on
    -- each KPI only in the periods it is recomputed in
    inner join started on started.period_code = periods.period_code and started.kpi_code = daily.kpi_code
    group by all
    union all
    select * from backlog
    union all
    -- self-reported indicators: one value per unit and period already (never summed across periods)
    select reports.period_code, reports.kpi_code, reports.unit_code, reports.numerator, reports.denominator
    from {{ ref('int_self_report_values') }} as reports
    inner join started using (period_code, kpi_code)
),

-- Units, levels and the city in one pass. aggregation (a bit per column rolled up: unit 2, level 1):
-- 0 a unit, 2 a level, 3 the city.
additive_counts as (
    select
        counts.period_code,
        counts.kpi_code,
        counts.unit_code,
        units.level,
        grouping(counts.unit_code) * 2 + grouping(units.level) as aggregation,
        sum(counts.numerator) as numerator,
        sum(counts.denominator) as denominator
    from additive_unit_counts as counts
    inner join units using (unit_code)
    group by grouping sets (
        (counts.period_code, counts.kpi_code, counts.unit_code, units.level),
        (counts.period_code, counts.kpi_code, units.level),
        (counts.period_code, counts.kpi_code)
    )
),

-- EID_AUTH counts applicants: distinct per unit, and recounted within a level and across the city
-- (one person applying to two units is one applicant of the city). Each applicant is first reduced
-- to one row per window and unit (a numerator when any of their dossiers there is): counting those
-- rows gives the distinct counts, far cheaper than count(distinct) over grouping sets.
-- A window is the days from a period's start to its evaluation date E. No dossier is received after
-- the data date D (quarantined at ingestion, proved by the staging test dossiers_row_rules), so a
-- window holds all its period's dossiers, and periods with the same window share its count: while
-- a year runs, its half-year, nine months and year.
applicant_periods as (
    select * from started where kpi_code = 'EID_AUTH'
),

applicant_windows as (
    select distinct start_on, evaluation_on from applicant_periods
),

applicants as (
    select
        windows.start_on,
        windows.evaluation_on,
        events.unit_code,
        units.level,
        events.counting_key,
        bool_or(events.is_numerator) as is_numerator
    from {{ ref('int_kpi_events') }} as events
    inner join applicant_windows as windows on events.event_on between windows.start_on and windows.evaluation_on
    inner join units using (unit_code)
    where events.kpi_code = 'EID_AUTH'
    group by all
),

level_applicants as (
    select start_on, evaluation_on, level, counting_key, bool_or(is_numerator) as is_numerator
    from applicants
    group by all
),

city_applicants as (
    select start_on, evaluation_on, counting_key, bool_or(is_numerator) as is_numerator
    from level_applicants
    group by all
),

window_applicant_counts as (
    select start_on, evaluation_on, unit_code, level, 0 as aggregation, count(*) filter (where is_numerator) as numerator, count(*) as denominator
    from applicants
    group by all
    union all
    select start_on, evaluation_on, null, level, 2, count(*) filter (where is_numerator), count(*)
    from level_applicants
    group by all
    union all
    select start_on, evaluation_on, null, null, 3, count(*) filter (where is_numerator), count(*)
    from city_applicants
    group by all
),

applicant_counts as (
    select periods.period_code, 'EID_AUTH' as kpi_code, counts.unit_code, counts.level, counts.aggregation, counts.numerator, counts.denominator
    from window_applicant_counts as counts
    inner join applicant_periods as periods
        on periods.start_on = counts.start_on and periods.evaluation_on = counts.evaluation_on
),

-- Each count under the code of the result row it fills. The city's own dossiers (unit 01, level
-- city) count only in the city row: neither a unit row nor a level row takes them.
counts as (
    select
        counts.period_code,
        counts.kpi_code,
        case counts.aggregation when 0 then counts.unit_code when 2 then roll_ups.unit_code else '01' end as unit_code,
        counts.numerator,
        counts.denominator
    from (select * from additive_counts union all select * from applicant_counts) as counts
    left join {{ ref('roll_ups') }} as roll_ups on roll_ups.rolls_up_level = counts.level
    where counts.aggregation = 3 or counts.level <> 'city'
),

result_rows as (
    select unit_code, unit_name, level as target_level, level = 'city' as is_city
    from {{ ref('units') }}
    where level in ('city', 'department', 'district', 'commune')
    union all
    select unit_code, unit_name, rolls_up_level, false
    from {{ ref('roll_ups') }}
),

-- The plan's key tasks and self-reported indicators concern departments and districts (the units
-- that owe tasks and send the periodic CCHC report), per report period: no commune or month rows.
kpi_grid as (
    select kpis.*, recomputed.period_code, recomputed.period_kind
    from recomputed
    inner join {{ ref('kpis') }} as kpis using (kpi_code)
    where kpis.source = 'dossiers' or recomputed.period_kind = 'report'
),

grid as (
    select
        kpis.period_code,
        result_rows.unit_code,
        result_rows.unit_name,
        kpis.kpi_code,
        case result_rows.target_level
            when 'city' then kpis.target_city
            when 'department' then kpis.target_department
            when 'district' then kpis.target_district
            when 'commune' then kpis.target_commune
        end as target
    from kpi_grid as kpis
    cross join result_rows
    where not (result_rows.is_city and kpis.kpi_code = 'DIGITIZED_RESULT')
        and (kpis.source = 'dossiers' or result_rows.target_level in ('city', 'department', 'district'))
),

counted as (
    select
        grid.*,
        -- bigint: a DuckDB sum is a 128-bit hugeint, which pandas reads as a float
        coalesce(counts.numerator, 0)::bigint as numerator,
        coalesce(counts.denominator, 0)::bigint as denominator
    from grid
    left join counts
        on counts.period_code = grid.period_code
        and counts.unit_code = grid.unit_code
        and counts.kpi_code = grid.kpi_code
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
