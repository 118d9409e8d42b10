{#-
  Mastodon status HTML -> plain text, as a person reads the rendered post:
  - paragraphs (<p>) are separated by a blank line, <br> is a line break, so words of different
    paragraphs or lines never run together ("Hello@bob" was the previous system's bug);
  - <span class="invisible"> parts of links (scheme, the hidden tail of long URLs) are dropped and a
    <span class="ellipsis"> part is followed by "…", exactly as Mastodon displays shortened links;
  - all other tags are removed, keeping their text (mentions read "@bob", hashtags "#tag");
  - entities are decoded once (&amp; &lt; &gt; &quot; &apos; &#39; &nbsp; and any numeric &#N; / &#xH;);
    &nbsp; becomes a plain space; an invalid code point becomes U+FFFD.
  The result is trimmed; null stays null.

  Most posts with entities have only the named ones and &#39; (Mastodon's apostrophe): those are decoded
  by plain replacements, &amp; last so nothing is decoded twice. Only a text with another numeric entity
  (or an '&' right before a tag, which removing the tag could join to one) is split into entities by a
  regular expression, which cost ~50 µs per post (16 s for 900k observations). The two expressions for
  Mastodon's link spans run only on a text with a <span (six in ten posts).
-#}
{% macro html_to_text(html) -%}
    {{ return(adapter.dispatch('html_to_text', 'forkalytics')(html)) }}
{%- endmacro %}

{% macro default__html_to_text(html) -%}
    {{ forkalytics.html_decode_entities(forkalytics.html_markup_to_text(html), html) }}
{%- endmacro %}

{#- The first half of html_to_text: the markup turned into line breaks and removed, entities left as they
    are. Regular expressions only, so PostgreSQL can compute it in parallel workers (a model reading many
    rows computes it in a fenced subquery, then decodes: int_status_observations). -#}
{% macro html_markup_to_text(html) -%}
    {{ return(adapter.dispatch('html_markup_to_text', 'forkalytics')(html)) }}
{%- endmacro %}

{% macro default__html_markup_to_text(html) -%}
    {%- set invisible = "<span[^>]*class=\"[^\"]*\\minvisible\\M[^\"]*\"[^>]*>[^<]*</span>" -%}
    {%- set ellipsis = "<span[^>]*class=\"[^\"]*\\mellipsis\\M[^\"]*\"[^>]*>([^<]*)</span>" -%}
    btrim(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        case
                            when {{ html }} ~* '<span'
                                then regexp_replace(
                                    regexp_replace({{ html }}, '{{ invisible }}', '', 'gi'),
                                    '{{ ellipsis }}', '\1…', 'gi'
                                )
                            else {{ html }}
                        end,
                        '<br[^>]*>', E'\n', 'gi'
                    ),
                    '</(p|div|blockquote|h[1-6]|pre)>\s*<(p|div|blockquote|h[1-6]|pre|ul|ol)[^>]*>', E'\n\n', 'gi'
                ),
                '</li>\s*<li[^>]*>|</?(ul|ol|li|p|div|blockquote|h[1-6]|pre)[^>]*>', E'\n', 'gi'
            ),
            '<[^>]*>', '', 'g'
        ),
        E' \n\r\t'
    )
{%- endmacro %}

{#- The second half: `stripped` (html_markup_to_text of `html`) with its entities decoded; null when `html`
    is. The decoding of a rare numeric entity is a correlated subquery, which keeps the expression out of
    parallel workers. -#}
{% macro html_decode_entities(stripped, html) -%}
    {{ return(adapter.dispatch('html_decode_entities', 'forkalytics')(stripped, html)) }}
{%- endmacro %}

{% macro default__html_decode_entities(stripped, html) -%}
    case
        when {{ html }} is null then null
        when position('&' in {{ html }}) = 0 then {{ stripped }}
        when position('&#' in replace({{ html }}, '&#39;', '')) = 0 and position('&<' in {{ html }}) = 0 then
            {%- set replaced = namespace(text=stripped) -%}
            {%- for entity, character in [('&lt;', '<'), ('&gt;', '>'), ('&quot;', '"'), ('&apos;', "''"),
                                          ('&#39;', "''"), ('&nbsp;', ' '), ('&amp;', '&')] -%}
                {%- set replaced.text = "replace(" ~ replaced.text ~ ", '" ~ entity ~ "', '" ~ character ~ "')" -%}
            {%- endfor %}
            {{ replaced.text }}
        else coalesce((
            select
                string_agg(
                    case
                        when entity.part[1] is not null then
                            case
                                when cast(('x' || lpad(entity.part[1], 8, '0')) as bit(32))::integer between 1 and 1114111
                                    and cast(('x' || lpad(entity.part[1], 8, '0')) as bit(32))::integer not between 55296 and 57343
                                    then chr(cast(('x' || lpad(entity.part[1], 8, '0')) as bit(32))::integer)
                                else chr(65533)
                            end
                        when entity.part[2] is not null then
                            case
                                when cast(entity.part[2] as integer) between 1 and 1114111
                                    and cast(entity.part[2] as integer) not between 55296 and 57343
                                    then chr(cast(entity.part[2] as integer))
                                else chr(65533)
                            end
                        when entity.part[3] is not null then
                            case lower(entity.part[3])
                                when 'amp' then '&'
                                when 'lt' then '<'
                                when 'gt' then '>'
                                when 'quot' then '"'
                                when 'apos' then ''''
                                when 'nbsp' then ' '
                            end
                        else entity.part[4]
                    end,
                    '' order by entity.ordinal
                )
            from regexp_matches(
                {{ stripped }},
                '&#[xX]([0-9a-fA-F]{1,6});|&#([0-9]{1,7});|&(amp|lt|gt|quot|apos|nbsp);|(&|[^&]+)',
                'g'
            ) with ordinality as entity (part, ordinal)
        ), '')
    end
{%- endmacro %}
