"""`python -m tests.golden`: rewrite the golden metrics (see tests/golden/__init__.py)."""

from tests.golden import main

main()
