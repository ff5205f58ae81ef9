"""HTML reports: the run's operations dashboard and the dashboard of several runs."""
