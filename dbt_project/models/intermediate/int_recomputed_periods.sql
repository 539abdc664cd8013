-- The periods a build recomputes whole, per source of events (kpis.event_source: dossiers, pakn,
-- ratings, tasks, self_report). kpi_results recomputes a KPI in the periods of its source,
-- fct_form06_statistics the periods of the dossiers. A full build: every period of every source.
-- An incremental one: those whose evaluation date the new data date moved (every source), and
-- those an item of a changed file spans, from the earliest to the latest day of any of its
-- versions' events (first_event_on to last_event_on, over every version, the replaced winner's
-- included; an open dossier's reaches the far future, since it is in progress at every later
-- evaluation date). A dossier whose new winner moved only at its end (resolved, or a corrected
-- finish day, every placing fact as before its previous winner) spans the days between its old
-- end and its new one. A progress report touches its milestone's deadline, a self-report its
-- period (and so every cumulative period containing it).
{#- What places a dossier in the KPIs and Biểu 06 besides its end (the day it resolved, or the far
    future while it is open). The end's own facts (its status within its class, finish and return
    days, digitised result, on time or not) count on the end day, so a change of them alone changes
    only the periods from the earlier end to the later. #}
{%- set placing_facts = [
    'unit_code', 'sector_code', 'channel', 'service_level', 'received_on', 'due_on', 'applicant_key',
    'vneid_authenticated', 'is_received', 'is_withdrawn_or_stopped',
] %}

with changed_files as (
    select file_hash from {{ ref('int_changed_files') }}
),

dossier_changes as (
    select
        dossiers.first_event_on,
        dossiers.last_event_on,
        coalesce(dossiers.finish_on, date '9999-12-31') as end_on,
        coalesce(previous.finish_on, date '9999-12-31') as previous_end_on,
        previous.dossier_id is not null
            {%- for fact in placing_facts %}
            and dossiers.{{ fact }} is not distinct from previous.{{ fact }}
            {%- endfor %} as moved_only_at_its_end
    from {{ ref('int_dossiers__latest') }} as dossiers
    left join {{ ref('int_dossiers__previous') }} as previous on previous.dossier_id = dossiers.dossier_id
    where dossiers.file_hash in (select file_hash from changed_files)
),

touched_spans as (
    select distinct event_source, first_day, last_day
    from (
        select
            'dossiers' as event_source,
            case when moved_only_at_its_end then least(previous_end_on, end_on) else first_event_on end as first_day,
            case when moved_only_at_its_end then greatest(previous_end_on, end_on) else last_event_on end as last_day
        from dossier_changes
        union all
        select 'pakn', first_event_on, last_event_on from {{ ref('int_pakn__latest') }} where file_hash in (select file_hash from changed_files)
        union all
        select 'ratings', first_event_on, last_event_on from {{ ref('int_ratings__latest') }} where file_hash in (select file_hash from changed_files)
        union all
        select 'tasks', deadline, deadline from {{ ref('int_plan_obligations') }} where file_hash in (select file_hash from changed_files)
        union all
        select 'self_report', periods.start_on, periods.end_on
        from {{ ref('int_self_reports__latest') }} as reports
        inner join {{ ref('int_periods') }} as periods using (period_code)
        where reports.file_hash in (select file_hash from changed_files)
    ) as events
),

event_sources as (
    select distinct event_source from {{ ref('kpis') }}
)

select periods.period_code, event_sources.event_source
from {{ ref('int_periods') }} as periods
cross join event_sources
-- a constant in a full build: DuckDB then reads none of the spans
where {{ not is_incremental_build() }}
    or periods.is_moved_by_data_date
    or exists (
        select 1 from touched_spans
        where touched_spans.event_source = event_sources.event_source
            and touched_spans.first_day <= periods.end_on and touched_spans.last_day >= periods.start_on
    )
