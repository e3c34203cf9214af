"""Grouping: how cases become aggregated cases, as pure rules (no I/O)."""
