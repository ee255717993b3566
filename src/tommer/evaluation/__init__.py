"""Evaluation: untyped and typed benchmark scores, backbone comparison and LLM-as-judge precision,
with the reports they write."""
