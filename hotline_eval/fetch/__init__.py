"""Fetching: the one HTTP layer (live and replay), the content-addressed archive, and charset decoding."""
