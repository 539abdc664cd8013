-- The periods a build recomputes whole (kpi_results, fct_form06_statistics). A full build: every
-- period. An incremental one: those whose evaluation date the new data date moved, and those an
-- item of a changed file spans, from the earliest to the latest day of any of its versions'
-- events (first_event_on to last_event_on, over every version, the replaced winner's included; an
-- open dossier's reaches the far future, since it is in progress at every later evaluation date).
-- A progress report touches its milestone's deadline, a self-report its period (and so every
-- cumulative period containing it).
with changed_files as (
    select file_hash from {{ ref('int_changed_files') }}
),

touched_spans as (
    select distinct first_day, last_day
    from (
        select first_event_on as first_day, last_event_on as last_day
        from {{ ref('int_dossiers__latest') }} where file_hash in (select file_hash from changed_files)
        union all
        select first_event_on, last_event_on from {{ ref('int_pakn__latest') }} where file_hash in (select file_hash from changed_files)
        union all
        select first_event_on, last_event_on from {{ ref('int_ratings__latest') }} where file_hash in (select file_hash from changed_files)
        union all
        select deadline, deadline from {{ ref('int_plan_obligations') }} where file_hash in (select file_hash from changed_files)
        union all
        select periods.start_on, periods.end_on
        from {{ ref('int_self_reports__latest') }} as reports
        inner join {{ ref('int_periods') }} as periods using (period_code)
        where reports.file_hash in (select file_hash from changed_files)
    ) as events
)

select periods.period_code
from {{ ref('int_periods') }} as periods
-- a constant in a full build: DuckDB then reads none of the spans
where {{ not is_incremental_build() }}
    or periods.is_moved_by_data_date
    or exists (
        select 1 from touched_spans
        where touched_spans.first_day <= periods.end_on and touched_spans.last_day >= periods.start_on
    )
