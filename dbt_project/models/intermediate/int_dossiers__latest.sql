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
),

classified as (
    select
        latest.*,
        sectors.target_group as sector_group,
        status in (9, 10) as is_resolved,
        status not in (1, 3) as is_received,
        status in (7, 8) as is_withdrawn_or_stopped,
        channel = 2 as is_online,
        channel = 2 and coalesce(service_level = 'TOAN_TRINH', false) as is_fully_online,
        -- A dossier with no ID number is its own applicant.
        coalesce(applicant_hash, 'dossier:' || dossier_id) as applicant_key
    from latest
    -- joined on, not using: Spark would move a using column to the front of latest.*
    left join {{ ref('sectors') }} as sectors on sectors.sector_code = latest.sector_code
)

select
    *,
    case when is_resolved then coalesce(finished_on, returned_on) end as finish_on,
    is_resolved and coalesce(finished_on, returned_on) <= due_on as is_on_time
from classified
