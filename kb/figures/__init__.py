"""Figures: every money amount, percentage and count in the passages, and the figure book.

`extract` reads figures out of text (run at ingest on every passage, stored beside it);
`book` reads corpus/figures.toml, whose entries pin each source's value to a verbatim quote.
"""
