"""The command-line tools behind `make`: run, kpis, report, sql, docs, registry."""
