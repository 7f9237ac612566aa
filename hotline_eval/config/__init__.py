"""Configuration: settings from the environment, the city registry, the evaluation window, the report's
published facts, and the helpers that load and validate config files."""
