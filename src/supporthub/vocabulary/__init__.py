"""The hub's vocabulary: its data, errors, settings and log hygiene; below every other layer."""
