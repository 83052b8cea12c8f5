"""The machinery that turns experiments into the book's pages.

- :mod:`~tdlib.book.chapters`: the one table of chapters, their knobs and profiles;
- :mod:`~tdlib.book.runner`: executes chapter notebooks with papermill (``python -m tdlib run``)
  and strips what an execution leaves in them, so an unchanged chapter re-executes byte for byte;
- :mod:`~tdlib.book.results`: the results cache (one JSON per experiment and configuration,
  with provenance), headline tables, cache status, and :class:`~tdlib.book.results.ChapterRun`
  (a chapter's header: profile, settings, provenance of the cached results it shows);
- :mod:`~tdlib.book.layout`: the HTML of the pages: tables that fit the text column, collapsible blocks;
- :mod:`~tdlib.book.viz`: the figures, sized for the text column.

Nothing is imported here, so ``import tdlib.book.results`` does not pull in matplotlib.
"""
