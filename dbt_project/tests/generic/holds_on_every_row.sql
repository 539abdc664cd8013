{% test holds_on_every_row(model, rules) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
-- Each named rule holds on every row, all checked in one pass over the model (a lake scan per
-- rule cost the nightly build seconds): a row per broken rule, with how many rows break it.
-- As with `where not (rule)`, a rule whose outcome is null (a null compared) holds.
with broken as (
    select
    {%- for name, rule in rules.items() %}
        count(case when not ({{ rule }}) then 1 end) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

by_rule as (
    select
        rules.rule,
        case rules.rule{% for name in rules %} when '{{ name }}' then broken.{{ name }}{% endfor %} end as failing_rows
    from broken
    cross join (values {% for name in rules %}('{{ name }}'){{ ", " if not loop.last }}{% endfor %}) as rules (rule)
)

select rule, failing_rows
from by_rule
where failing_rows > 0
{% endtest %}
