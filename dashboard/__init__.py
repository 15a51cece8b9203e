"""The finsentry dashboard: a live Streamlit view of the store (read-only).

    finsentry dashboard [--port N] [--host H] [--store URL] [--refresh S]

Public pieces: ``dashboard.queries`` (plain read functions: connection/engine in, DataFrame
out), ``dashboard.charts`` (Plotly figures), ``dashboard.theme`` (label colours),
``bench.dashboard.run_render_bench`` (full-page render benchmark) and ``tests.support.seed``
(a generated store for tests and the benchmark). ``dashboard/app.py`` is the page script.
"""
