{{ config(materialized='incremental', unique_key='pakn_id') }}

with versions as {{ not_materialized() }} (
    {{ versions_to_decide(ref('stg_raw__pakn'), 'pakn_id', ['due_on']) }}
)

{{ latest_version('versions', 'pakn_id') }}
