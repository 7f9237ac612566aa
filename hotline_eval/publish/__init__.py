"""Publishing: the work database and the analyst file, the report, the data dictionary and
run-failure rows."""
