"""`python -m experiments.cli`: the same as `simctl`."""

from experiments.cli import main

main()
