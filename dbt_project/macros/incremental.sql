{# Incremental builds: the files ingested after the last successful build saw, by file_hash, or
   by lake_file to read staging. The pipeline (pipelines/incremental.py) runs dbt with
   --full-refresh or without it, and records each successful build in the build file; the cut-off
   is read from there at run time. Nothing about the kind of build is a variable, so dbt parses
   the project once and keeps it from one build to the next, full or incremental.
   In a full build every loaded file counts as changed, and so does it in a build without the
   pipeline's record (a bare `dbt build` on a new file). #}
{% macro is_incremental_build() -%}
    {%- if flags.FULL_REFRESH or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema='audit', identifier='dbt_build_state') is not none) }}
{%- endmacro %}

{% macro last_build_cutoff() -%}
    (select max(ingested_until) from audit.dbt_build_state)
{%- endmacro %}

{% macro changed_files(column='file_hash') -%}
    select {{ column }}
    from {{ source('audit', 'ingested_files') }}
    where status = 'loaded'
    {%- if is_incremental_build() %} and ingested_at > {{ last_build_cutoff() }}{% endif %}
{%- endmacro %}

{# The versions a latest-state model decides among, each with the days its KPI events fall on.
   A full build: every version in the lake. An incremental one: the rows of the changed files and
   the current winner of each key they mention (from this model's table); supersession is a total
   order, so the winner of these is the winner of every version ever loaded.
   A build that failed after this model committed leaves winners from the changed files in this
   table; the next build reads those files again. Such a winner is the very version its file's row
   is (same file hash and row), so the two become one row keeping every day gathered so far: a rerun
   gives exactly what an uninterrupted build gives. #}
{% macro versions_to_decide(staging, key, event_days) -%}
    {%- if is_incremental() %}
    with new_versions as (
        select *, {{ event_days }} as event_days from {{ staging }} where lake_file in ({{ changed_files('lake_file') }})
    ),

    current_winners as (
        select {% for column in adapter.get_columns_in_relation(staging) if column.name != 'lake_file' %}{{ column.name }}, {% endfor %}event_days
        from {{ this }}
        where {{ key }} in (select {{ key }} from new_versions)
    )

    select new_versions.* exclude (event_days), list_concat(new_versions.event_days, coalesce(already_applied.event_days, [])) as event_days
    from new_versions
    left join current_winners as already_applied
        on already_applied.file_hash = new_versions.file_hash and already_applied.source_row_number = new_versions.source_row_number
    union all by name
    select current_winners.*
    from current_winners
    anti join new_versions
        on new_versions.file_hash = current_winners.file_hash and new_versions.source_row_number = current_winners.source_row_number
    {%- else %}
    select *, {{ event_days }} as event_days from {{ staging }}
    {%- endif %}
{%- endmacro %}

{# The span of days an item whose latest version came in a changed file may count on: from the
   earliest to the latest day of any of its versions' events (event_days gathers them across
   versions, the replaced winner's included; an open dossier's reaches the far future, since it is
   in progress at every later evaluation date). The periods overlapping these spans are the only
   ones an incremental build recomputes, besides those whose evaluation date moved. #}
{% macro touched_spans() -%}
    select distinct list_min(event_days) as first_day, list_max(event_days) as last_day
    from (
        select event_days from {{ ref('int_dossiers__latest') }} where file_hash in ({{ changed_files() }})
        union all
        select event_days from {{ ref('int_pakn__latest') }} where file_hash in ({{ changed_files() }})
        union all
        select event_days from {{ ref('int_ratings__latest') }} where file_hash in ({{ changed_files() }})
        -- the plan's exports: a progress report touches its milestone's deadline, a self-report
        -- its period (and so every cumulative period containing it)
        union all
        select [deadline] from {{ ref('int_plan_obligations') }} where file_hash in ({{ changed_files() }})
        union all
        select [periods.start_on, periods.end_on]
        from {{ ref('int_self_reports__latest') }} as reports
        inner join {{ ref('int_periods') }} as periods using (period_code)
        where reports.file_hash in ({{ changed_files() }})
    )
{%- endmacro %}

{# The periods an incremental build recomputes whole (kpi_results, fct_form06_statistics), as a
   condition on int_periods: those whose evaluation date the new data date moved, those new to the
   table (a late correction into an earlier year brings a year's periods), and those an item of a
   changed file spans. #}
{% macro is_recomputed_period() -%}
    (
        int_periods.is_moved_by_data_date
        or int_periods.period_code not in (select distinct period from {{ this }})
        or exists (
            select 1 from ({{ touched_spans() }}) as touched
            where touched.first_day <= int_periods.end_on and touched.last_day >= int_periods.start_on
        )
    )
{%- endmacro %}

{# The staging tests (dbt_project.yml, meta only_rows_of_changed_files) check, in an incremental
   build, the rows of the files new to it: the rows already checked stay checked. dbt's own macro
   otherwise: a test's `where`, or the whole relation. #}
{% macro get_where_subquery(relation) -%}
    {%- set meta = config.get('meta') -%}
    {%- if meta is mapping and meta.get('only_rows_of_changed_files') and is_incremental_build() -%}
        {{ return("(select * from " ~ relation ~ " where lake_file in (" ~ changed_files('lake_file') ~ ")) dbt_subquery") }}
    {%- endif -%}
    {{ return(dbt.default__get_where_subquery(relation)) }}
{%- endmacro %}
