"""Benchmarks of the product (``make bench`` = ``python -m bench``); not part of the installed packages."""
