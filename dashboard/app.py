"""The Streamlit entry script: `finsentry dashboard` runs `streamlit run` on this file.

Streamlit executes the file top to bottom on every rerun; everything else lives in importable
modules (``dashboard.page`` and the sections it draws), so importing them has no side effects.
"""

from dashboard.page import main

main()
