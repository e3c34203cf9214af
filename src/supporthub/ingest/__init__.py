"""Ingest: plug-ins found, sources fetched, batches prepared and handed to the store."""
