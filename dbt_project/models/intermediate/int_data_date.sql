-- The data date D (docs/kpis.md, "Data date and running periods"): the date of the newest drop
-- folder the ingestion has seen. Every period is evaluated at min(its end, D).
-- An incremental build also needs D as the previous build saw it: the periods whose evaluation
-- date moved since then are recomputed even where no file touched them.
{{ config(materialized='table') }}

select
    max(drop_date) as data_date,
    {% if is_incremental_build() -%}
    max(drop_date) filter (where ingested_at <= {{ last_build_cutoff() }})
    {%- else -%}
    null::date
    {%- endif %} as previous_data_date
from {{ ref('stg_audit__ingested_files') }}
