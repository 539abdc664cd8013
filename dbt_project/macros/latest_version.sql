{# Supersession (docs/exports.md): per key, the row of the latest drop wins; inside a drop, the
   file whose NFC name sorts last (DuckDB compares strings by code point), then the later row. #}
{% macro latest_version(relation, key) -%}
select * exclude (version_rank)
from (
    select
        *,
        row_number() over (
            partition by {{ key }}
            order by drop_date desc, source_file desc, source_row_number desc
        ) as version_rank
    from {{ relation }}
)
where version_rank = 1
{%- endmacro %}
