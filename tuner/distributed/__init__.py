"""Distributed tuning on KerasTuner's own chief/worker engine.

KerasTuner runs a search over several processes when three environment
variables are set: `KERASTUNER_TUNER_ID` (`"chief"` for the oracle, any other
id for a worker), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`. The
chief serves its oracle over gRPC; each worker asks it for trials, trains
them and reports back. kregs adds what that engine leaves to its users, one
module each:

- `addressing`: the `HOST:PORT` of the chief, worker ids, the variables of
  one role (`oracle_env`), a chief that cannot bind or a worker that cannot
  reach the chief failing at once with one line;
- `health`: each worker's heartbeat file in the shared output folder, and the
  chief's monitor that gives a silent worker's trial to another worker;
- `cluster`: `kregs tune --workers N` on one machine: a chief on 127.0.0.1
  and N workers as child processes, their lines streamed, a crashed worker
  restarted under its id, Ctrl-C stopping them all.

The gRPC channel has no authentication: whoever reaches the port can read
and steer the search. The chief binds 127.0.0.1 unless told otherwise.
"""
