"""`python -m bench` (behind `make bench`): every section, one table, ``bench/results.json``."""

import typer

from bench.run import bench_command

typer.run(bench_command)
