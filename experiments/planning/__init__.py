"""Planning experiments: the power calculator (metric variances, multiplicity, group-sequential
designs, duration, the solver), power inputs taken from a run, and the in-market A/B simulation."""
