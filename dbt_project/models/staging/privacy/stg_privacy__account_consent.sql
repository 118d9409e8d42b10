{#- The current consent of every post author (extract/consent.py records it at load time). -#}
select
    instance_id,
    account_id,
    acct,
    consent_status,
    consent_reason,
    consent_checked_at,
    opted_out_since,
    consent_status = 'opted_out' as is_opted_out
from {{ source('privacy_raw', 'account_consent') }}
