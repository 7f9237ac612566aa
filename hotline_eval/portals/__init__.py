"""Hotline pages and service directories: feature rules, page reading, catalogues, fingerprints and
the evidence they give.

``rules`` (config/portal_rules.yaml), ``text`` (text and markup tools), ``features`` (feature extraction),
``catalogue`` (service directories), ``fingerprint`` (page structure and drift), ``evidence`` (a city's
pages and directories read over HTTP), ``refresh`` (every city's, as typed warehouse write plans).
"""
