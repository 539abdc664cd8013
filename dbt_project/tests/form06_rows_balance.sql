-- Biểu 06 balances on every row: carried over + received = resolved + withdrawn or stopped + in progress,
-- and each group's parts add up to its total.
select *
from {{ ref('fct_form06_statistics') }}
where carried_over + received_total <> resolved_total + withdrawn_or_stopped + in_progress_total
    or received_online + received_in_person + received_postal <> received_total
    or resolved_early + resolved_on_time + resolved_late <> resolved_total
    or in_progress_within_due + in_progress_overdue <> in_progress_total
