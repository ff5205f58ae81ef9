"""Running scenarios many times: executors, the one evaluator, sweeps and their designs,
sensitivity, optimisation, and the folders and outputs runs write."""
