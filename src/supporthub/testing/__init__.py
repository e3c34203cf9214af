"""Test support shipped with supporthub: the adapter contract suite and CRM simulators."""
