{# Incremental builds (pipelines/incremental.py): files ingested after var('changed_since'). Without
   the variable every loaded file counts as changed, which makes an incremental run a full one.
   dbt_project.yml spells the same filter out for the staging tests: macros cannot run there. #}
{% macro changed_files() -%}
    select file_hash
    from {{ source('audit', 'ingested_files') }}
    where status = 'loaded'
    {%- if var('changed_since', none) %} and ingested_at > '{{ var("changed_since") }}'::timestamp{% endif %}
{%- endmacro %}

{# Every version, old and new, of the keys that changed files mention. #}
{% macro changed_versions(relation, key) -%}
    select * from {{ relation }}
    where {{ key }} in (select {{ key }} from {{ relation }} where file_hash in ({{ changed_files() }}))
{%- endmacro %}

{# The days a KPI event of any version of a changed dossier, PAKN item or rating can fall on: the
   periods holding them are the only ones an incremental build recomputes. #}
{% macro touched_days() -%}
    select unnest([received_on, finished_on, returned_on]) as day
    from ({{ changed_versions(ref('stg_raw__dossiers'), 'dossier_id') }})
    union
    select due_on from ({{ changed_versions(ref('stg_raw__pakn'), 'pakn_id') }})
    union
    select rated_on from ({{ changed_versions(ref('stg_raw__ratings'), 'dossier_id') }})
{%- endmacro %}
