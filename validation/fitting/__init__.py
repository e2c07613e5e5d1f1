"""Fitting routines for the few spec constants that validation data sets calibrate.

Each module refits from the committed data (the data set's loader in `validation.datasets`),
writes its result file and says which spec fields take the values. The data-set modules only
load and predict; they never fit.
"""
