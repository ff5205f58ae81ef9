"""Fitting scenarios to observed data and forecasting from the fit: observed data, calibration,
forecasts, the BG/NBD yardstick and the parameter-recovery study."""
