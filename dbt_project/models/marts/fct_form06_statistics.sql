-- Biểu số 06/VPCP/KSTT (Thông tư 01/2020/TT-VPCP): dossier statistics per period and row (every
-- registered unit, the three level roll-ups, the city), for every sector (sector_code null: the
-- row's total) and per sector within it. Periods are evaluated at E = min(end, data date); a
-- period not started at the data date has no rows.
--   carried over  = in progress on the day before the period starts;
--   received      = received from the start to E, by channel;
--   resolved      = finish date from the start to E: before the due day, on it, after it;
--   withdrawn or stopped = status 7/8 received in the period (their exports carry no date);
--   in progress   = in progress at E: within due (due on or after E) or overdue.
-- Every row balances: carried over + received = resolved + withdrawn or stopped + in progress.
-- Incremental: a build recomputes whole periods, those of the dossiers in int_recomputed_periods.
{{ config(materialized='incremental', unique_key='period') }}
{%- set measures = [
    'carried_over', 'received_online', 'received_in_person', 'received_postal', 'received_total',
    'resolved_early', 'resolved_on_time', 'resolved_late', 'resolved_total', 'withdrawn_or_stopped',
    'in_progress_within_due', 'in_progress_overdue', 'in_progress_total'
] %}

with periods as (
    select period_code, start_on, evaluation_on
    from {{ ref('int_periods') }}
    where state <> 'not_started' and {{ is_recomputed_period("'dossiers'") }}
),

-- Periods holding the same days share one count: those with the same start and evaluation date E
-- (while a year runs, its half-year, nine months and year).
windows as (
    select distinct start_on, evaluation_on from periods
),

dossiers as (
    select unit_code, sector_code, channel, status, received_on, due_on, finish_on, is_withdrawn_or_stopped
    from {{ ref('int_dossiers__latest') }}
    where is_received
),

-- Each dossier with each window it takes part in: received by E, and not resolved before the
-- start (withdrawn or stopped ones only in the window they were received in).
facts as (
    select
        windows.start_on,
        windows.evaluation_on,
        dossiers.unit_code,
        dossiers.sector_code,
        dossiers.channel,
        dossiers.due_on,
        dossiers.finish_on,
        dossiers.is_withdrawn_or_stopped,
        dossiers.received_on >= windows.start_on as is_received_in_period,
        dossiers.finish_on <= windows.evaluation_on as is_resolved_by_evaluation
    from dossiers
    -- two plain inequalities (an open dossier's finish is the far future): DuckDB joins them as a
    -- range join instead of testing every dossier against every window
    inner join windows
        on dossiers.received_on <= windows.evaluation_on
        and coalesce(dossiers.finish_on, date '9999-12-31') >= windows.start_on
    where not dossiers.is_withdrawn_or_stopped
    union all
    select
        windows.start_on,
        windows.evaluation_on,
        dossiers.unit_code,
        dossiers.sector_code,
        dossiers.channel,
        dossiers.due_on,
        dossiers.finish_on,
        dossiers.is_withdrawn_or_stopped,
        true,
        false
    from dossiers
    inner join windows on dossiers.received_on between windows.start_on and windows.evaluation_on
    where dossiers.is_withdrawn_or_stopped
),

window_counts as (
    select
        start_on,
        evaluation_on,
        unit_code,
        sector_code,
        count(*) filter (where not is_received_in_period and not is_withdrawn_or_stopped) as carried_over,
        count(*) filter (where is_received_in_period and channel = 2) as received_online,
        count(*) filter (where is_received_in_period and channel = 1) as received_in_person,
        count(*) filter (where is_received_in_period and channel = 3) as received_postal,
        count(*) filter (where is_received_in_period) as received_total,
        count(*) filter (where is_resolved_by_evaluation and finish_on < due_on) as resolved_early,
        count(*) filter (where is_resolved_by_evaluation and finish_on = due_on) as resolved_on_time,
        count(*) filter (where is_resolved_by_evaluation and finish_on > due_on) as resolved_late,
        count(*) filter (where is_resolved_by_evaluation) as resolved_total,
        count(*) filter (where is_withdrawn_or_stopped) as withdrawn_or_stopped,
        count(*) filter (where not is_withdrawn_or_stopped and coalesce(not is_resolved_by_evaluation, true) and due_on >= evaluation_on)
            as in_progress_within_due,
        count(*) filter (where not is_withdrawn_or_stopped and coalesce(not is_resolved_by_evaluation, true) and due_on < evaluation_on)
            as in_progress_overdue,
        count(*) filter (where not is_withdrawn_or_stopped and coalesce(not is_resolved_by_evaluation, true)) as in_progress_total
    from facts
    group by all
),

unit_sector_counts as (
    select periods.period_code, counts.*
    from window_counts as counts
    inner join periods on periods.start_on = counts.start_on and periods.evaluation_on = counts.evaluation_on
),

-- Units, levels and the city, each in total and per sector, in one pass.
-- aggregation (a bit per column rolled up: unit 4, level 2, sector 1): 0/1 a unit, 4/5 a level,
-- 6/7 the city; odd = total.
rolled as (
    select
        counts.period_code,
        counts.unit_code,
        units.level,
        counts.sector_code,
        grouping(counts.unit_code) * 4 + grouping(units.level) * 2 + grouping(counts.sector_code) as aggregation,
        {% for measure in measures %}sum(counts.{{ measure }}) as {{ measure }}{{ ", " if not loop.last }}{% endfor %}
    from unit_sector_counts as counts
    inner join {{ ref('units') }} as units using (unit_code)
    group by grouping sets (
        (counts.period_code, counts.unit_code, units.level, counts.sector_code),
        (counts.period_code, counts.unit_code, units.level),
        (counts.period_code, units.level, counts.sector_code),
        (counts.period_code, units.level),
        (counts.period_code, counts.sector_code),
        (counts.period_code)
    )
),

-- Each count under its result row's code; the city's own dossiers count only in the city row.
counts as (
    select
        rolled.period_code,
        case
            when rolled.aggregation in (0, 1) then rolled.unit_code
            when rolled.aggregation in (4, 5) then roll_ups.unit_code
            else '01'
        end as unit_code,
        rolled.sector_code,
        {% for measure in measures %}rolled.{{ measure }}{{ ", " if not loop.last }}{% endfor %}
    from rolled
    left join {{ ref('roll_ups') }} as roll_ups on roll_ups.rolls_up_level = rolled.level
    where rolled.aggregation >= 6 or rolled.level <> 'city'
),

result_rows as (
    select unit_code, unit_name from {{ ref('units') }} where level in ('city', 'department', 'district', 'commune')
    union all
    select unit_code, unit_name from {{ ref('roll_ups') }}
),

-- Every row's total in every started period, zeros included; sector rows where they have dossiers.
grid as (
    select periods.period_code, result_rows.unit_code, result_rows.unit_name, null::string as sector_code
    from periods
    cross join result_rows
    union all
    select counts.period_code, counts.unit_code, result_rows.unit_name, counts.sector_code
    from counts
    inner join result_rows using (unit_code)
    where counts.sector_code is not null
)

select
    grid.period_code as period,
    grid.unit_code,
    grid.unit_name,
    grid.sector_code,
    coalesce(sectors.sector_name, 'Tổng số') as sector_name,
    {#- bigint: a DuckDB sum is a 128-bit hugeint, which pandas reads as a float #}
    {% for measure in measures %}coalesce(counts.{{ measure }}, 0)::bigint as {{ measure }},
    {% endfor -%}
    {{ rate_half_up('coalesce(counts.resolved_early + counts.resolved_on_time, 0)', 'coalesce(counts.resolved_total, 0)') }} as on_time_rate
from grid
left join counts
    on counts.period_code = grid.period_code
    and counts.unit_code = grid.unit_code
    and counts.sector_code is not distinct from grid.sector_code
left join {{ ref('sectors') }} as sectors on sectors.sector_code = grid.sector_code
