"""`python -m finsentry`: an entry point, not a module of the base layer; it only hands over to the CLI."""

from app.cli import main

main()
