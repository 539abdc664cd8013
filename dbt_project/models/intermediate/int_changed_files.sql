-- The loaded files this build reads: in an incremental build those ingested after the last
-- successful build (the cut-off recorded in the build file, macros/incremental.sql), in a full
-- build every loaded file. The incremental models read their new versions through it, and the
-- periods a build recomputes follow from it (int_recomputed_periods).
select
    file_hash,
    lake_file,
    kind
from {{ ref('stg_audit__ingested_files') }}
where {{ is_changed_file() }}
