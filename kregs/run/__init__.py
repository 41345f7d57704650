"""The run layer: what every kregs run needs, whether it tunes or studies.

`kregs tune` and `kregs study` are thin compositions of these steps; each
module owns one of them and imports no TensorFlow at module level:

- `budget`: how much a run trains (`SearchBudget`, `StudyBudget`), the named
  presets, and their one validation;
- `files`: atomic writes (unique temporary name, fsync, `os.replace`) and JSON;
- `folder`: the run folder: its record file (run.json, study.json), resume,
  and the refusal of a folder that holds another run;
- `metrics`: one Keras history -> one row of numbers, with the one definition
  of the best epoch that every table of kregs uses;
- `device`: the device, threads and precision set-up of a process;
- `train`: compiling a model and the callbacks of every training run.
"""
