"""Ingest: memo texts parsed and checked (parse), cut into sentences and chunks (chunking), embedded with
their entities (prepare, entities), and written through the storage seam (intake)."""
