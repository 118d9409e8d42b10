{#-
  The engagement score: reblogs * w_r + favourites * w_f + replies * w_p, weights from vars
  engagement_weight_reblogs (3), engagement_weight_favourites (2), engagement_weight_replies (1).
  Missing counts count as 0. Returns double precision (the seed's FLOAT; weights may be fractional).
-#}
{% macro engagement_score(reblogs, favourites, replies) -%}
    cast(
        coalesce({{ reblogs }}, 0) * {{ var('engagement_weight_reblogs') }}
        + coalesce({{ favourites }}, 0) * {{ var('engagement_weight_favourites') }}
        + coalesce({{ replies }}, 0) * {{ var('engagement_weight_replies') }}
        as double precision
    )
{%- endmacro %}
