"""The `kb` command line (the composition root: it may import kb, ingest and web)."""
