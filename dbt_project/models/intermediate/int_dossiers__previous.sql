-- Each dossier whose winner came in a changed file, as it stood before this build: its winning
-- version among the files earlier builds read, with its facts. int_recomputed_periods compares it
-- with the new winner to recompute only the periods the change reaches. Empty in a full build,
-- which recomputes every period, and without a row for a dossier new to this build.
-- Read from the lake, not from int_dossiers__latest's table, which this build rewrites (and which
-- a build that failed half-way leaves holding winners of the changed files).
-- Only drops from the dossiers' first event day on are read: no row is dated after its drop (the
-- ingestion quarantines it, docs/decisions.md), so those hold every version that has a date. The
-- bound can only drop a dossier's older versions, never its winner alone, so a dossier it leaves
-- without a previous version gets its full span: never a wrong one. A lake file is one drop's, so
-- DuckDB skips the older files by their statistics (at 5M on 31 December, 0.2 s instead of 1 s).
-- The versions read, a few per dossier, are kept (materialised) before they are ranked, which
-- DuckDB otherwise planned into the scan (1.2-1.5 s). Taking the dossiers from
-- int_dossiers__latest runs this after it: beside it, the two scans of the lake slowed each other.
with changed_files as (
    select file_hash from {{ ref('int_changed_files') }}
),

changed_winners as (
    select dossier_id, first_event_on
    from {{ ref('int_dossiers__latest') }}
    where file_hash in (select file_hash from changed_files)
),

earlier_versions as {{ materialized_once() }} (
    select *
    from {{ ref('stg_raw__dossiers') }}
    -- a constant false in a full build: the lake is not read
    where {{ is_incremental_build() }}
        and dossier_id in (select dossier_id from changed_winners)
        and file_hash not in (select file_hash from changed_files)
        and drop_date >= (select min(first_event_on) from changed_winners)
),

previous as (
    select * except (version_rank, lake_file)
    from (
        select *, row_number() over (partition by dossier_id order by {{ supersession_order() }}) as version_rank
        from earlier_versions
    ) as ranked
    where version_rank = 1
)

{{ dossier_facts('previous') }}
