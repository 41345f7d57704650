"""kregs.tuner: KerasTuner search over L2 strength, dropout rate and BN placement.

Installed as `kregs.tuner` (source folder `tuner/`); import it only under that name.
"""
