{# Incremental builds. The pipeline (pipelines/incremental.py) runs dbt with --full-refresh or
   without it, and records each successful build in the build file; the cut-off is read from there
   at run time. Nothing about the kind of build is a variable, so dbt parses the project once and
   keeps it from one build to the next, full or incremental. A build without the pipeline's record
   (a bare `dbt build` on a new file) is a full one. What changed is a model, int_changed_files. #}
{% macro is_incremental_build() -%}
    {%- if flags.FULL_REFRESH or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema='audit', identifier='dbt_build_state') is not none) }}
{%- endmacro %}

{% macro last_build_cutoff() -%}
    (select max(ingested_until) from audit.dbt_build_state)
{%- endmacro %}

{# A row of the manifest (audit.ingested_files) is a file this build reads: the one definition,
   for int_changed_files and the staging tests' filter. #}
{% macro is_changed_file() -%}
    status = 'loaded'
    {%- if is_incremental_build() %} and ingested_at > {{ last_build_cutoff() }}{% endif %}
{%- endmacro %}

{# The periods kpi_results and fct_form06_statistics recompute for a source of events (a SQL
   expression: a quoted name, or a column such as kpis.event_source), as a condition on
   int_periods: int_recomputed_periods, and in an incremental build the periods new to the
   model's table (a late correction into an earlier year brings a year's periods). #}
{% macro is_recomputed_period(event_source) -%}
    (
        period_code in (
            select recomputed.period_code from {{ ref('int_recomputed_periods') }} as recomputed
            where recomputed.event_source = {{ event_source }}
        )
        {%- if is_incremental() %}
        or period_code not in (select distinct period from {{ this }})
        {%- endif %}
    )
{%- endmacro %}

{# The versions a latest-state model decides among, each with the first and the last day its KPI
   events fall on (`event_days`: expressions of a version's columns; a null day is no event).
   A full build: every version in the lake. An incremental one: the rows of the changed files and
   the current winner of each key they mention (from this model's table); supersession is a total
   order, so the winner of these is the winner of every version ever loaded.
   A build that failed after this model committed leaves winners from the changed files in this
   table; the next build reads those files again. Such a winner is the very version its file's row
   is (same file hash and row), so the two become one row keeping the widest span gathered so far:
   a rerun gives exactly what an uninterrupted build gives. #}
{% macro versions_to_decide(staging, key, event_days) -%}
    {%- set changed_files = ref('int_changed_files') %}  {#- outside the branch: dbt records the dependency when it parses #}
    {%- set first_day, last_day = event_day_span(event_days) %}
    {%- if is_incremental() %}
    with new_versions as (
        select *, {{ first_day }} as first_event_on, {{ last_day }} as last_event_on
        from {{ staging }}
        where lake_file in (select lake_file from {{ changed_files }})
    ),

    current_winners as (
        select {% for column in adapter.get_columns_in_relation(staging) if column.name != 'lake_file' %}{{ column.name }}, {% endfor %}first_event_on, last_event_on
        from {{ this }}
        where {{ key }} in (select {{ key }} from new_versions)
    )

    select
        new_versions.* exclude (first_event_on, last_event_on),
        -- a version no earlier build applied joins no span: least and greatest skip the null
        least(new_versions.first_event_on, already_applied.first_event_on) as first_event_on,
        greatest(new_versions.last_event_on, already_applied.last_event_on) as last_event_on
    from new_versions
    left join current_winners as already_applied
        on already_applied.file_hash = new_versions.file_hash and already_applied.source_row_number = new_versions.source_row_number
    union all by name
    select current_winners.*
    from current_winners
    anti join new_versions
        on new_versions.file_hash = current_winners.file_hash and new_versions.source_row_number = current_winners.source_row_number
    {%- else %}
    select *, {{ first_day }} as first_event_on, {{ last_day }} as last_event_on from {{ staging }}
    {%- endif %}
{%- endmacro %}

{# The earliest and the latest of a version's event days, nulls skipped (Spark's least and
   greatest take two arguments or more). #}
{% macro event_day_span(event_days) -%}
    {%- if event_days | length == 1 -%}
        {{ return((event_days[0], event_days[0])) }}
    {%- endif -%}
    {{ return(("least(" ~ event_days | join(", ") ~ ")", "greatest(" ~ event_days | join(", ") ~ ")")) }}
{%- endmacro %}

{# A test's rows in an incremental build (the rows already checked stay checked):
   - the staging tests (dbt_project.yml, meta only_rows_of_changed_files) check the rows of the
     files new to the build;
   - a test with meta only_keys_of_changed_files (the name of a raw source) checks the rows whose
     key (the test's column) those files mention: a latest-state table, merged by key, changes
     only at those keys, so a key it holds twice after this build (earlier builds left it
     unique) is one of them.
   The staging tests run before int_changed_files is built, so both kinds read the manifest
   itself. dbt's own macro otherwise: a test's `where`, or the whole relation. #}
{% macro get_where_subquery(relation) -%}
    {%- set meta = config.get('meta') -%}
    {%- if meta is mapping and is_incremental_build() -%}
        {%- set changed = "select lake_file from " ~ source('audit', 'ingested_files') ~ " where " ~ is_changed_file() -%}
        {%- if meta.get('only_rows_of_changed_files') -%}
            {{ return("(select * from " ~ relation ~ " where lake_file in (" ~ changed ~ ")) dbt_subquery") }}
        {%- elif meta.get('only_keys_of_changed_files') -%}
            {%- set key = model.test_metadata.kwargs.column_name -%}
            {%- set mentioned = "select " ~ key ~ " from " ~ source('raw', meta.get('only_keys_of_changed_files')) ~ " where lake_file in (" ~ changed ~ ")" -%}
            {{ return("(select * from " ~ relation ~ " where " ~ key ~ " in (" ~ mentioned ~ ")) dbt_subquery") }}
        {%- endif -%}
    {%- endif -%}
    {{ return(dbt.default__get_where_subquery(relation)) }}
{%- endmacro %}
