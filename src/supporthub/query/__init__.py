"""Queries: what a list view or search asks for, its cursors, and finished answers."""
