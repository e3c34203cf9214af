"""Delivery: the outbox's replies sent to the CRMs, exactly once, through crashes and faults."""
