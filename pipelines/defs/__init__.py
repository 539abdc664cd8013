"""The Dagster definitions: assets, checks, resources, schedules and sensors (entry point: pipelines/definitions.py)."""
