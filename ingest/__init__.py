"""Turning files (PDF, Markdown, text, HTML, DOCX) into passages the knowledge base stores."""
