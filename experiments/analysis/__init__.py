"""Reading real experiments: sufficient statistics, Welch, delta method, CUPED, corrections, SRM
and sequential decisions."""
