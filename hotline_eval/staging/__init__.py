"""Staging: raw records to the common service-request model (times, mappings, partitions)."""
