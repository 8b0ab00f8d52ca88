"""`company-activity demo`: the whole night locally (night), its late-backfill replay check (check) and its
injected failure (failure)."""
