{# numerator / denominator to 4 decimals, rounded half up in exact integer arithmetic; null when
   the denominator is 0. #}
{% macro rate_half_up(numerator, denominator) -%}
    case
        when {{ denominator }} > 0
            then ({{ integer_divide('2 * ' ~ numerator ~ ' * 10000 + ' ~ denominator, '2 * ' ~ denominator) }}::decimal(18, 0) * 0.0001)::decimal(10, 4)
    end
{%- endmacro %}
