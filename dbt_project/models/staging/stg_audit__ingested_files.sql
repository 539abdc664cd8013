-- Every file the ingestion has seen (loaded, skipped as a resend, or rejected), with its drop.
select
    file_hash,
    path,
    kind,
    status,
    drop_date,
    ingested_at,
    lake_file
from {{ source('audit', 'ingested_files') }}
