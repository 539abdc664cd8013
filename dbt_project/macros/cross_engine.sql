{# The few places where DuckDB's and Spark's SQL differ, one macro each, dispatched per adapter
   (docs/spark.md). Everything else in the models is SQL both engines read alike. #}

{# Integer division rounding down: DuckDB's //, Spark's div. #}
{% macro integer_divide(dividend, divisor) -%}
    {{ return(adapter.dispatch('integer_divide', 'cchc_kpi')(dividend, divisor)) }}
{%- endmacro %}
{% macro default__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}
{% macro spark__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) div ({{ divisor }}))
{%- endmacro %}

{% macro add_months(date, months) -%}
    {{ return(adapter.dispatch('add_months', 'cchc_kpi')(date, months)) }}
{%- endmacro %}
{% macro default__add_months(date, months) -%}
    ({{ date }} + to_months({{ months }}))::date
{%- endmacro %}
{% macro spark__add_months(date, months) -%}
    add_months({{ date }}, {{ months }})
{%- endmacro %}

{# A date as text, the format written as strftime's (%Y, %m, %B); Spark gets its own pattern. #}
{% macro format_date(date, strftime_format) -%}
    {{ return(adapter.dispatch('format_date', 'cchc_kpi')(date, strftime_format)) }}
{%- endmacro %}
{% macro default__format_date(date, strftime_format) -%}
    strftime({{ date }}, '{{ strftime_format }}')
{%- endmacro %}
{% macro spark__format_date(date, strftime_format) -%}
    date_format({{ date }}, '{{ strftime_format | replace("%Y", "yyyy") | replace("%m", "MM") | replace("%B", "MMMM") }}')
{%- endmacro %}

{# One row per part of a delimited text, as a select-list expression. #}
{% macro split_into_rows(text, delimiter) -%}
    {{ return(adapter.dispatch('split_into_rows', 'cchc_kpi')(text, delimiter)) }}
{%- endmacro %}
{% macro default__split_into_rows(text, delimiter) -%}
    unnest(string_split({{ text }}, '{{ delimiter }}'))
{%- endmacro %}
{% macro spark__split_into_rows(text, delimiter) -%}
    explode(split({{ text }}, '{{ delimiter }}'))
{%- endmacro %}

{# A CTE read more than once that DuckDB should inline rather than materialise whole; Spark
   always inlines. #}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'cchc_kpi')()) }}
{%- endmacro %}
{% macro default__not_materialized() -%}
    not materialized
{%- endmacro %}
{% macro spark__not_materialized() -%}
{%- endmacro %}

{# A small CTE read more than once that DuckDB should compute once, not scan for again at each
   read; Spark decides for itself. #}
{% macro materialized_once() -%}
    {{ return(adapter.dispatch('materialized_once', 'cchc_kpi')()) }}
{%- endmacro %}
{% macro default__materialized_once() -%}
    materialized
{%- endmacro %}
{% macro spark__materialized_once() -%}
{%- endmacro %}
