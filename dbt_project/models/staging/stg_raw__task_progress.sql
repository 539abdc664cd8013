select
    milestone_code,
    unit_code,
    done_on,
    document_number,
    drop_date,
    source_file,
    row_number as source_row_number,
    file_hash,
    lake_file
from {{ source('raw', 'task_progress') }}
