"""Core inference: text → tokens (windows) → layer-L hidden states (backbone) → span scores (probe)
→ mentions (decoding), tied together by the untyped detector; plus the saved-model layout and card.

Nothing here knows about type heads, training, evaluation or integrations.
"""
