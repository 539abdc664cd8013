-- Each unit's value of each self-reported indicator for every started report period. The plan's
-- self-reported targets are states, not flows: a period takes the unit's report for its own code;
-- a cumulative period (H1, 9M, Y) without one takes the latest report among the periods inside it
-- (the latest end; of two ending together, the longer: 9M before Q3). Never summed across periods.
with reports as (
    select reports.*, periods.start_on, periods.end_on
    from {{ ref('int_self_reports__latest') }} as reports
    inner join {{ ref('int_periods') }} as periods using (period_code)
),

periods as (
    select period_code, start_on, end_on
    from {{ ref('int_periods') }}
    where period_kind = 'report' and state <> 'not_started'
)

select * except (preference)
from (
    select
        periods.period_code,
        reports.indicator_code as kpi_code,
        reports.unit_code,
        reports.numerator,
        reports.denominator,
        reports.period_code as reported_period,
        reports.file_hash,
        row_number() over (
            partition by periods.period_code, reports.unit_code, reports.indicator_code
            order by reports.period_code = periods.period_code desc, reports.end_on desc, reports.start_on
        ) as preference
    from periods
    inner join reports on reports.start_on >= periods.start_on and reports.end_on <= periods.end_on
) as candidates
where preference = 1
