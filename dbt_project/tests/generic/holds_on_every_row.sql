{% test holds_on_every_row(model, condition) %}
-- the rows where a business rule does not hold
select *
from {{ model }}
where not ({{ condition }})
{% endtest %}
