"""The plain data model: mentions, annotated texts, the readers of annotated files and span-set scores.

Pure Python (no torch): everything above builds on these types.
"""
