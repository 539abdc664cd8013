select
    dossier_id,
    unit_code,
    rated_at,
    rated_at::date as rated_on,
    level as satisfaction_level,
    drop_date,
    source_file,
    row_number as source_row_number,
    file_hash,
    lake_file
from {{ source('raw', 'ratings') }}
