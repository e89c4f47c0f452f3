"""``python -m worker.cli`` — same as the ``mediflux`` console script."""

from worker.cli import main

main(prog_name="mediflux")
