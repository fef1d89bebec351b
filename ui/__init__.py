"""The Streamlit side of the lab: shared widgets, session state and figures.

Pages (``app.py``, ``app_pages/*.py``) stay thin: they lay out widgets from
:mod:`ui.widgets`, call ``ser_core`` services, and draw with :mod:`ui.figures`. Nothing in
``ser_core`` imports this package.

The page files live in ``app_pages/``, not ``pages/``: Streamlit treats a ``pages/`` folder
beside the entry script as its older multipage layout, and a first visit straight to a page
URL (``/classify``) would then run that page without ``app.py`` (no navigation, no layout).
"""
