"""Publishing: the work database and the analyst file, named queries, the report, the data dictionary
and run-failure rows."""
