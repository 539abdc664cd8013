{# The sources, raw.<kind> and audit.ingested_files, on an engine that does not share DuckDB's
   build file. DuckDB's are views the ingestion made there (pipelines/ingest/lake.py, Lake.expose).
   Spark reads the lake's Parquet files where they are: one external table per kind over its
   folder, with the schema the lake was written with, and a view that keeps the rows of the lake
   files the manifest lists, with the same lake_file as DuckDB's. The pipeline describes the
   lake in CCHC_SPARK_SOURCES (pipelines/engines.py) and copies the manifest beside it. #}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'cchc_kpi')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set lake = fromjson(env_var('CCHC_SPARK_SOURCES')) -%}
        {%- do run_query("create database if not exists audit") -%}
        {%- do run_query("create database if not exists raw") -%}
        {%- do run_query("drop table if exists audit.ingested_files") -%}
        {%- do run_query("create table audit.ingested_files using parquet location '" ~ lake.manifest ~ "'") -%}
        {%- for kind, files in lake.kinds.items() -%}
            {#- external tables: dropping one leaves the lake's files where they are -#}
            {%- do run_query("drop table if exists raw." ~ kind ~ "__files") -%}
            {%- do run_query("create table raw." ~ kind ~ "__files (" ~ files.columns ~ ") using parquet location '" ~ files.location ~ "'") -%}
            {%- do run_query(
                "create or replace view raw." ~ kind ~ " as select * from ("
                ~ "select *, concat('" ~ files.location ~ "/', _metadata.file_name) as lake_file from raw." ~ kind ~ "__files"
                ~ ") as files where lake_file in (select lake_file from audit.ingested_files where status = 'loaded')"
            ) -%}
            {#- read from the lake once: every staging test and model after reads Spark's cache (memory,
                then local disk), not the thousands of small files a year holds again -#}
            {%- do run_query("cache lazy table raw." ~ kind) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{# dbt-spark's session method pastes seed values into its INSERT unescaped: an apostrophe breaks
   the statement and an empty cell becomes the text 'None'. Literals instead, quoted and escaped. #}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set column_types = [] -%}
    {%- for column_name in agate_table.column_names -%}
        {%- do column_types.append(column_override.get(column_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}null{%- else -%}
                    cast('{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ column_types[loop.index0] }})
                    {%- endif -%}{{ ", " if not loop.last }}
                {%- endfor -%}){{ "," if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) if loop.first -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{%- endmacro %}
