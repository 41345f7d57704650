"""kregs.cli: the `kregs` command line (source folder `cli/`).

`main` is the command group; `tune`, `study`, `export` and `predict` are one
module each; `options` holds the options they share, `errors` how failures
are reported, `output` the lines they print. Only click is imported at module
level; TensorFlow, Keras and KerasTuner are imported inside the command
bodies, so `kregs --help` answers at once.
"""
