"""The pieces of ``scripts/bench.py`` (the speed benchmark), one concern per module.

- :mod:`.common`: timing helpers, the machine description, running a measured subprocess;
- :mod:`.corpus`: the texts (benchmark test sentences, documents built from them);
- :mod:`.whole_process`: ``tommer detect -i corpus.jsonl`` per engine, and spaCy, each a process;
- :mod:`.spacy_run`: the spaCy process (``python -m speedbench.spacy_run``);
- :mod:`.in_process`: batch sizes and document length, in one process (``python -m speedbench.in_process``);
- :mod:`.startup`: warm and cold start, split by :mod:`.start_probe` (import / runtime / load / first call);
- :mod:`.report`: summary, targets (PASS / MISS), the markdown report and the plot.

Nothing here imports torch, transformers or spaCy at module level: the driver stays light, and each
measured process imports only what it measures.
"""
