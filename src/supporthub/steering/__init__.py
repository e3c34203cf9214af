"""Steering: operators change the grouping (overrides, rule upgrades) and see why."""
