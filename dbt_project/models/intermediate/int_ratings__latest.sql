-- One rating per dossier: a later drop replaces it.
{{ config(materialized='incremental', unique_key='dossier_id') }}

with versions as {{ not_materialized() }} (
    {{ versions_to_decide(ref('stg_raw__ratings'), 'dossier_id', ['rated_on']) }}
)

{{ latest_version('versions', 'dossier_id') }}
