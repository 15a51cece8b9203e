"""The finsentry dashboard: a live Streamlit view of the store (read-only).

    finsentry dashboard [--port N] [--host H] [--store URL] [--refresh S]

``dashboard/app.py`` is the Streamlit entry script; ``dashboard.page`` draws the page from
``dashboard.overview`` and ``dashboard.sections``; data comes through ``dashboard.cached`` from
the store's read API (``store.reads``), figures from ``dashboard.charts``.
"""
