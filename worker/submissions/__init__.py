"""Submissions: the app's receipt for a document and the one place its state changes (docs/documents.md)."""
