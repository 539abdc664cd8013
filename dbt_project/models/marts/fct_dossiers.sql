-- One row per dossier in its latest state. No applicant PII: the applicant is a keyed hash.
{{ config(materialized='incremental', unique_key='dossier_id') }}

select
    dossier_id,
    unit_code,
    sector_code,
    sector_group,
    procedure_code,
    procedure_name,
    channel,
    service_level,
    status,
    received_at,
    due_at,
    finished_at,
    returned_at,
    finish_on,
    is_received,
    is_resolved,
    is_on_time,
    is_online,
    is_fully_online,
    vneid_authenticated,
    result_digitized,
    applicant_key,
    drop_date,
    source_file
from {{ ref('int_dossiers__latest') }}
-- a dossier whose latest version came in a changed file (in a full build: every dossier)
where file_hash in (select file_hash from {{ ref('int_changed_files') }})
