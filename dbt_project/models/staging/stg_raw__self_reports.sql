select
    unit_code,
    period_code,
    indicator_code,
    numerator,
    denominator,
    drop_date,
    source_file,
    row_number as source_row_number,
    file_hash,
    lake_file
from {{ source('raw', 'self_reports') }}
