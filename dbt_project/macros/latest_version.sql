{# Supersession (docs/exports.md): per key, the row of the latest drop wins; inside a drop, the
   file whose NFC name sorts last (DuckDB compares strings by code point), then the later row.
   The winner keeps event_days of every version (see versions_to_decide), not where the lake keeps it. #}
{% macro latest_version(relation, key) -%}
select * exclude (version_rank, event_days_of_versions, lake_file)
    replace (list_sort(list_distinct(flatten(event_days_of_versions))) as event_days)
from (
    select
        *,
        row_number() over (
            partition by {{ key }}
            order by drop_date desc, source_file desc, source_row_number desc
        ) as version_rank,
        list(event_days) over (partition by {{ key }}) as event_days_of_versions
    from {{ relation }}
)
where version_rank = 1
{%- endmacro %}
