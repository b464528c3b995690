"""The shared-services evidence base: store, index, search, citations and myths.

`kb` knows nothing of file formats (see `ingest`) or of the web (see `web`).
"""
