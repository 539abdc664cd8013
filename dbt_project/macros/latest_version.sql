{# Supersession (docs/exports.md): per key, the row of the latest drop wins; inside a drop, the
   file whose NFC name sorts last (DuckDB compares strings by code point), then the later row.
   The winner keeps the span of every version's event days (first_event_on to last_event_on, see
   versions_to_decide), not where the lake keeps it.
   Winners are ranked on a few narrow columns, then their whole rows fetched by (file, row): sorting
   every version's every column is what a year-long lake cannot afford. `relation` should be a CTE
   declared `not materialized`, since it is read twice. #}
{% macro latest_version(relation, key) -%}
select {{ relation }}.* except (first_event_on, last_event_on, lake_file), winners.first_event_on, winners.last_event_on
from {{ relation }}
inner join (
    select file_hash, source_row_number, first_event_on, last_event_on
    from (
        select
            file_hash,
            source_row_number,
            row_number() over (
                partition by {{ key }}
                order by {{ supersession_order() }}
            ) as version_rank,
            min(first_event_on) over (partition by {{ key }}) as first_event_on,
            max(last_event_on) over (partition by {{ key }}) as last_event_on
        from {{ relation }}
    ) as versions_ranked
    where version_rank = 1
) as winners
    on winners.file_hash = {{ relation }}.file_hash and winners.source_row_number = {{ relation }}.source_row_number
{%- endmacro %}

{# The one order in which versions supersede each other: the first row wins. #}
{% macro supersession_order() -%}
    drop_date desc, source_file desc, source_row_number desc
{%- endmacro %}
