"""Files made from the knowledge base for people to take away: evidence packs (Word, Markdown,
plain text) and references for reference managers (RIS, BibTeX, CSL-JSON).

Writers take resolved data (kb.packs.Pack, kb documents) and return bytes; every citation in
them comes from kb.citations. This package imports kb only (no Flask), so the web app and any
command can use it.
"""
