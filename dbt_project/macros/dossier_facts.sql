{# A dossier version with the facts the KPIs and Biểu 06 are built from (docs/kpis.md): its
   sector's target group, its status classes, the day it resolved and whether that was on time.
   One definition for the latest version of each dossier (int_dossiers__latest) and for the version
   an incremental build replaces (int_dossiers__previous). #}
{% macro dossier_facts(versions) -%}
select
    *,
    case when is_resolved then coalesce(finished_on, returned_on) end as finish_on,
    is_resolved and coalesce(finished_on, returned_on) <= due_on as is_on_time
from (
    select
        {{ versions }}.*,
        sectors.target_group as sector_group,
        status in (9, 10) as is_resolved,
        status not in (1, 3) as is_received,
        status in (7, 8) as is_withdrawn_or_stopped,
        channel = 2 as is_online,
        channel = 2 and coalesce(service_level = 'TOAN_TRINH', false) as is_fully_online,
        -- A dossier with no ID number is its own applicant.
        coalesce(applicant_hash, 'dossier:' || dossier_id) as applicant_key
    from {{ versions }}
    -- joined on, not using: Spark would move a using column to the front of the version's columns
    left join {{ ref('sectors') }} as sectors on sectors.sector_code = {{ versions }}.sector_code
) as classified
{%- endmacro %}
