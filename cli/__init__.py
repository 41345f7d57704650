"""kregs.cli: the `kregs` command line (source folder `cli/`).

Only click is imported at module level; TensorFlow, Keras and KerasTuner are
imported inside the command bodies, so `kregs --help` answers at once.
"""
