"""Reading nightly drops into the Parquet lake: pure parsing and rules, then the lake itself."""
