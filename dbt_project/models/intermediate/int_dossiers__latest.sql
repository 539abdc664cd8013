-- The current state of every dossier, with the facts the KPIs of docs/kpis.md are built from.
-- Incremental: only dossiers that newly ingested files mention are re-decided (versions_to_decide).
{{ config(materialized='incremental', unique_key='dossier_id') }}

with versions as {{ not_materialized() }} (
    -- An open version (status below 7) may be in progress at any later evaluation date: its span
    -- reaches the far future, so every period from its receipt on is recomputed when it changes.
    {{ versions_to_decide(ref('stg_raw__dossiers'), 'dossier_id',
        ['received_on', 'finished_on', 'returned_on', "case when status < 7 then date '9999-12-31' end"]) }}
),

latest as (
    {{ latest_version('versions', 'dossier_id') }}
)

{{ dossier_facts('latest') }}
