-- Every report period (the plan's cut-off rule, any year) and calendar month of each year the
-- data touches, with its evaluation date E = min(end, D) and its state at the data date D.
-- A year is touched when an event day falls in one of its report periods (15 Dec of the year
-- before to 14 Dec) or in one of its calendar months.
with event_days as (
    -- the dossier, PAKN and rating exports decide which years exist (docs/kpis.md); the plan's
    -- task and self-report files only fill the periods those years have
    select distinct events.event_on
    from {{ ref('int_kpi_events') }} as events
    inner join {{ ref('kpis') }} as kpis on kpis.kpi_code = events.kpi_code and kpis.source = 'dossiers'
    where events.event_on is not null
),

years as (
    -- integer on both engines (DuckDB's year() is a bigint, Spark's an int)
    select (year(event_on) + case when month(event_on) = 12 and day(event_on) >= 15 then 1 else 0 end)::integer as year
    from event_days
    union
    select year(event_on)::integer from event_days
),

report_periods as (
    select
        years.year || '-' || rules.period_suffix as period_code,
        'report' as period_kind,
        years.year,
        {{ add_months('make_date(years.year, 1, 15)', 'rules.start_month_offset') }} as start_on,
        {{ add_months('make_date(years.year, 1, 14)', 'rules.end_month_offset') }} as end_on,
        rules.period_order as order_in_year,
        rules.name_vi || ' năm ' || years.year as name_vi,
        rules.name_en || ' ' || years.year as name_en
    from years
    cross join {{ ref('report_periods') }} as rules
),

months as (
    select
        {{ format_date('make_date(years.year, month, 1)', '%Y-%m') }} as period_code,
        'month' as period_kind,
        years.year,
        make_date(years.year, month, 1) as start_on,
        last_day(make_date(years.year, month, 1)) as end_on,
        100 + month as order_in_year,
        'Tháng ' || month || '/' || years.year as name_vi,
        {{ format_date('make_date(years.year, month, 1)', '%B %Y') }} as name_en
    from years
    cross join (values {% for month in range(1, 13) %}({{ month }}){{ ', ' if not loop.last }}{% endfor %}) as month_numbers(month)
),

periods as (
    select * from report_periods
    union all
    select * from months
)

select
    periods.*,
    least(periods.end_on, dates.data_date) as evaluation_on,
    case
        when periods.end_on <= dates.data_date then 'closed'
        when periods.start_on <= dates.data_date then 'running'
        else 'not_started'
    end as state,
    -- Recomputed by an incremental build although no file touched it: its evaluation date moved.
    coalesce(least(periods.end_on, dates.previous_data_date) <> least(periods.end_on, dates.data_date), true)
        as is_moved_by_data_date
from periods
cross join {{ ref('int_data_date') }} as dates
