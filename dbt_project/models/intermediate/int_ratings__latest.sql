-- One rating per dossier: a later drop replaces it.
{{ latest_version(ref('stg_raw__ratings'), 'dossier_id') }}
