"""Configuration: settings from the environment, the city registry, the evaluation window, and the
helpers that load and validate config files."""
