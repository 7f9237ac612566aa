"""Hotline pages and service directories: feature rules, page reading, catalogues, fingerprints and
the evidence they give."""
