"""The machinery that turns experiments into the book's pages.

- :mod:`~tdlib.book.chapters`: the one table of chapters, their knobs and profiles;
- :mod:`~tdlib.book.runner`: executes chapter notebooks with papermill (``python -m tdlib run``);
- :mod:`~tdlib.book.results`: the results cache (one JSON per experiment and configuration,
  with provenance), headline tables, cache status, and :class:`~tdlib.book.results.ChapterRun`
  (a chapter's header and footer);
- :mod:`~tdlib.book.viz`: figures and tables shared by the chapters.

Nothing is imported here, so ``import tdlib.book.results`` does not pull in matplotlib.
"""
