"""Planning, analysis, outputs and the CLI. Imports `sim`; `sim` never imports this package."""
