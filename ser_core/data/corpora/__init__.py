"""One module per corpus: ``INFO`` (a :class:`~ser_core.data.registry.CorpusInfo`) and
``load(root, ...)``. Every module here is a corpus; :mod:`ser_core.data.registry` finds them."""
