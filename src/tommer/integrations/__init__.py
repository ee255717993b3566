"""Integrations: the spaCy component, the web app and JSON API, HTML views and corpus streaming.

Kept light on import: spaCy imports :mod:`tommer.integrations.spacy_component` for every
``spacy.blank()`` through the ``spacy_factories`` entry point.
"""
