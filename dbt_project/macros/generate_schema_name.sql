{# Schemas are named exactly as configured (staging, intermediate, marts, reference): analysts
   query marts.kpi_results, not main_marts.kpi_results. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
