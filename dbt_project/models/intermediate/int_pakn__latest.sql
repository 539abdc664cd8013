{{ latest_version(ref('stg_raw__pakn'), 'pakn_id') }}
