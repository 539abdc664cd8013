-- One rating per dossier: a later drop replaces it.
{{ config(materialized='incremental', unique_key='dossier_id', incremental_strategy='delete+insert') }}
-- depends_on: {{ source('audit', 'ingested_files') }}

with versions as (
    {% if is_incremental() %}{{ changed_versions(ref('stg_raw__ratings'), 'dossier_id') }}
    {% else %}select * from {{ ref('stg_raw__ratings') }}{% endif %}
)

{{ latest_version('versions', 'dossier_id') }}
