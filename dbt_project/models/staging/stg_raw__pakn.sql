select
    pakn_id,
    unit_code,
    received_on,
    due_on,
    handled_on,
    published_on,
    drop_date,
    source_file,
    row_number as source_row_number,
    file_hash,
    lake_file
from {{ source('raw', 'pakn') }}
