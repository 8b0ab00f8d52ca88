"""Stage 2, orchestrate: the adf/ JSON (resources), its expression language, offline validation, local executor."""
