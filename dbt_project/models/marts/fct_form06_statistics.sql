-- Biểu số 06/VPCP/KSTT (Thông tư 01/2020/TT-VPCP): dossier statistics per unit and period.
-- received    = received in the period, online or in person / by post;
-- carried over = received before the period and still open at its start;
-- resolved    = finished in the period, early / on the due day / late;
-- in progress = received by the period end and still open then, within or past due
--               (past due when the due date is before the period end).
-- Withdrawn (7) and stopped (8) dossiers carry no closing date: they count as received, never as open.
with dossiers as (
    select * from {{ ref('int_dossiers__latest') }} where is_received
),

periods as (
    select period_code, start_on, end_on from {{ ref('int_periods') }}
),

facts as (
    select
        periods.period_code,
        dossiers.unit_code,
        dossiers.received_on between periods.start_on and periods.end_on as is_received_in_period,
        dossiers.finish_on between periods.start_on and periods.end_on as is_resolved_in_period,
        dossiers.status not in (7, 8) and dossiers.received_on < periods.start_on
            and coalesce(dossiers.finish_on >= periods.start_on, true) as is_carried_over,
        dossiers.status not in (7, 8) and dossiers.received_on <= periods.end_on
            and coalesce(dossiers.finish_on > periods.end_on, true) as is_open_at_end,
        dossiers.is_online,
        dossiers.finish_on,
        dossiers.due_on,
        periods.end_on
    from dossiers
    inner join periods
        on dossiers.received_on <= periods.end_on
        and coalesce(dossiers.finish_on >= periods.start_on, true)
)

select
    period_code as period,
    unit_code,
    count(*) filter (where is_received_in_period and is_online) as received_online,
    count(*) filter (where is_received_in_period and not is_online) as received_in_person_or_post,
    count(*) filter (where is_carried_over) as carried_over,
    count(*) filter (where is_resolved_in_period and finish_on < due_on) as resolved_early,
    count(*) filter (where is_resolved_in_period and finish_on = due_on) as resolved_on_time,
    count(*) filter (where is_resolved_in_period and finish_on > due_on) as resolved_late,
    count(*) filter (where is_open_at_end and due_on >= end_on) as in_progress_within_due,
    count(*) filter (where is_open_at_end and due_on < end_on) as in_progress_past_due
from facts
group by all
