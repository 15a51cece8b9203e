"""The top layer: the composition root (``app.root``) and the ``finsentry`` command line.

Only this package wires the others together; nothing below it imports it.
"""
