"""Stage 1, ingest: the usage API client (usage_api), bronze layout and day commit (bronze), the runner."""
