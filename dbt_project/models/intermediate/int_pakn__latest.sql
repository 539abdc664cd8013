{{ config(materialized='incremental', unique_key='pakn_id', incremental_strategy='delete+insert') }}
-- depends_on: {{ source('audit', 'ingested_files') }}

with versions as (
    {% if is_incremental() %}{{ changed_versions(ref('stg_raw__pakn'), 'pakn_id') }}
    {% else %}select * from {{ ref('stg_raw__pakn') }}{% endif %}
)

{{ latest_version('versions', 'pakn_id') }}
