"""Typing: span-type heads (supervised and zero-shot), LM labels, and the detector that adds them to
the core detector (``labels=[...]``, supervised heads)."""
