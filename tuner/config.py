"""`TuneConfig`: one validated, serializable description of a `kregs tune` run.

No TensorFlow, Keras or KerasTuner here: the command line builds a
`TuneConfig` before anything heavy is imported.
"""

import dataclasses
import numbers

from kregs import __version__
from kregs.checks import (
    ARCHITECTURES,
    AUGMENTATIONS,
    DROPOUT_KINDS,
    DROPOUT_PLACEMENTS,
    check_arch,
    check_batch_norm,
    check_choice,
    check_dropout,
    check_lambda,
    check_positive_int,
)
from kregs.data import MIRROR_SAFE, check_dataset
from kregs.errors import invalid_value
from kregs.run.budget import SEARCH_PRESETS, SearchBudget, resolve
from kregs.run.device import DeviceOptions
from kregs.tuner.distributed.addressing import ROLES, parse_oracle, tuner_id

RUN_FILE = "run.json"
# run.json fields that may change between a run and its resumption (the precision is
# what this machine has: each trial records its own).
RESUMABLE = ("max_trials", "kregs_version", "precision")
STRATEGIES = ("mirrored",)
# The fixed dimensions only the extended space has.
EXTENDED_DIMENSIONS = ("weight_decay", "dropout_placement", "dropout_kind", "augment")

__all__ = ["ARCHITECTURES", "ClusterOptions", "Fixed", "TuneConfig", "RUN_FILE", "STRATEGIES"]


@dataclasses.dataclass(frozen=True)
class Fixed:
    """Dimensions of the search space fixed to one value (None: searched).

    Attributes:
        l2: float >= 0 or None, the L2 lambda (0 switches L2 off).
        dropout: float in [0, 1) or None, the dropout rate (0 switches it off).
        batch_norm: str or None, the BN placement ("none" switches BN off).
        learning_rate: float in (0, 1) or None, Adam's learning rate.
        weight_decay: float >= 0 or None, the decoupled weight decay (AdamW).
        dropout_placement: str or None, where dropout goes (blocks, stages, head).
        dropout_kind: str or None, dropout in convolutions (elementwise, spatial).
        augment: str or None, the training-time augmentation.
    """

    l2: float | None = None
    dropout: float | None = None
    batch_norm: str | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    dropout_placement: str | None = None
    dropout_kind: str | None = None
    augment: str | None = None

    def record(self):
        """The fields as run.json holds them: the extended space's only where fixed, so that
        the record of a run written before they existed is unchanged (and it resumes)."""
        return {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if k not in EXTENDED_DIMENSIONS or v is not None
        }

    def __post_init__(self):
        if self.l2 is not None:
            object.__setattr__(self, "l2", check_lambda(self.l2, "l2"))
        if self.dropout is not None:
            object.__setattr__(self, "dropout", check_dropout(self.dropout))
        if self.batch_norm is not None:
            check_batch_norm(self.batch_norm)
        if self.weight_decay is not None:
            object.__setattr__(
                self, "weight_decay", check_lambda(self.weight_decay, "weight_decay")
            )
        for name, choices in (
            ("dropout_placement", DROPOUT_PLACEMENTS),
            ("dropout_kind", DROPOUT_KINDS),
            ("augment", AUGMENTATIONS),
        ):
            if getattr(self, name) is not None:
                check_choice(getattr(self, name), choices, name)
        lr = self.learning_rate
        if lr is not None and (
            isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < 1
        ):
            raise invalid_value("learning_rate", lr, "a float in (0, 1)")


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """This process' part in a distributed search (KerasTuner's chief/worker engine).

    Attributes:
        role: str, "chief" (serves the oracle) or "worker" (trains trials).
        oracle: str, "HOST:PORT" where the chief listens.
        worker_id: str or None, a worker's id, unique per worker.
        worker_timeout: float, the chief's seconds without a worker's heartbeat
            before its trial goes to another worker.
        oracle_timeout: float, a worker's seconds to wait for the chief.
    """

    role: str
    oracle: str
    worker_id: str | None = None
    worker_timeout: float = 120.0
    oracle_timeout: float = 60.0

    def __post_init__(self):
        if self.role not in ROLES:
            raise invalid_value("role", self.role, "chief or worker (or None for one process)")
        parse_oracle(self.oracle)
        if self.role == "worker":
            if self.worker_id is None:
                raise invalid_value("worker_id", None, "this worker's id, unique per worker")
            tuner_id(self.role, self.worker_id)  # validates the id
        for name in ("worker_timeout", "oracle_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
                raise invalid_value(name, value, "a number of seconds > 0")

    @property
    def host(self):
        return parse_oracle(self.oracle)[0]

    @property
    def port(self):
        return parse_oracle(self.oracle)[1]

    @property
    def tuner_id(self):
        """This process' `KERASTUNER_TUNER_ID`: `chief` or `worker-<id>`."""
        return tuner_id(self.role, self.worker_id)


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """Everything a `kregs tune` run needs, validated on construction.

    The first group of fields says what the search is; `record()` writes it
    as run.json, and a run is resumed only with the same record (less
    `RESUMABLE`). The rest says how this process runs it.

    Attributes:
        dataset: str, "mnist", "fashion_mnist" or "cifar10".
        budget: `kregs.run.budget.SearchBudget`.
        arch: str, "cnn" or "mlp".
        fixed: `Fixed`, dimensions not searched.
        seed: int, seeds the split, the weights and the search.
        validation_split: float in (0, 1), the share of training images held out.
        output: str or None, the output folder (None: `runs/<dataset>-<UTC stamp>`).
        data_dir: str or None, where the data set's files are.
        overwrite: bool, delete an existing run in `output` first.
        top_k: int, how many of the best models go to best/.
        device: `kregs.run.device.DeviceOptions`.
        strategy: None, "mirrored" or a `tf.distribute.Strategy`: each trial
            trains on all its replicas; `batch_size` is then per replica.
        cluster: `ClusterOptions` or None (one process).
        verbose: bool, Keras' progress bar for every epoch.

    Example:
    >>> config = TuneConfig.create("fashion_mnist", preset="smoke", output="runs/smoke")
    >>> config.budget.max_trials
    3
    """

    dataset: str = "fashion_mnist"
    budget: SearchBudget = SearchBudget()
    arch: str = "cnn"
    fixed: Fixed = Fixed()
    seed: int = 0
    validation_split: float = 0.1
    output: str | None = None
    data_dir: str | None = None
    overwrite: bool = False
    top_k: int = 3
    device: DeviceOptions = DeviceOptions()
    strategy: object = None
    cluster: ClusterOptions | None = None
    verbose: bool = False

    def __post_init__(self):
        check_dataset(self.dataset)
        check_arch(self.arch)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise invalid_value("seed", self.seed, "an int")
        vs = self.validation_split
        if isinstance(vs, bool) or not isinstance(vs, numbers.Real) or not 0 < vs < 1:
            raise invalid_value("validation_split", vs, "a float in (0, 1)")
        check_positive_int(self.top_k, "top_k")
        if self.strategy not in (None, *STRATEGIES) and not hasattr(
            self.strategy, "num_replicas_in_sync"
        ):
            raise invalid_value(
                "strategy", self.strategy, "None, 'mirrored' or a tf.distribute.Strategy"
            )
        if self.cluster is not None and self.output is None:
            raise invalid_value("output", self.output, "the shared output folder of the run")
        augment = self.fixed.augment or ""
        if augment.startswith("flip") and self.dataset not in MIRROR_SAFE:
            raise invalid_value(
                "augment",
                augment,
                f"no flips for {self.dataset}: a mirror changes its labels; "
                "use shift or shift+erase",
            )
        given = [n for n in EXTENDED_DIMENSIONS if getattr(self.fixed, n) is not None]
        if given and self.budget.space != "extended":
            raise invalid_value(
                given[0],
                getattr(self.fixed, given[0]),
                f"the extended space (--space extended); the {self.budget.space} space "
                "has no such dimension",
            )

    @classmethod
    def create(cls, dataset="fashion_mnist", preset=None, **options):
        """Builds a `TuneConfig` from flat options, as `kregs tune` takes them.

        Budget options (`algorithm`, `max_trials`, `epochs`, `batch_size`,
        `space`, `limit`, `patience`, `trial_images`, `refit`, `baseline`) left at None
        take the preset's values;
        `l2`, `dropout`, `batch_norm`, `learning_rate`, `weight_decay`,
        `dropout_placement`, `dropout_kind`, `augment` fix a dimension;
        `precision`, `jit_compile`, `threads` go to `DeviceOptions`;
        `role`, `oracle`, `worker_id`, `worker_timeout`, `oracle_timeout` to
        `ClusterOptions` (when `role` is given); the rest are fields.

        Args:
            dataset: str, the data set.
            preset: str or None, "smoke", "quick" or "paper".
            **options: as above.

        Returns:
            A `TuneConfig`.
        """
        take = _taker(options)
        budget = resolve(
            SEARCH_PRESETS,
            preset,
            **take(
                "algorithm",
                "max_trials",
                "epochs",
                "batch_size",
                "space",
                "limit",
                "patience",
                "trial_images",
                "refit",
                "baseline",
            ),
        )
        fixed = Fixed(
            **take(
                "l2",
                "dropout",
                "batch_norm",
                "learning_rate",
                "weight_decay",
                "dropout_placement",
                "dropout_kind",
                "augment",
            )
        )
        device = DeviceOptions(**take("precision", "jit_compile", "threads"))
        cluster = take("role", "oracle", "worker_id", "worker_timeout", "oracle_timeout")
        role = cluster.get("role")
        cluster = ClusterOptions(**cluster) if role is not None else None
        return cls(
            dataset=dataset, budget=budget, fixed=fixed, device=device, cluster=cluster, **options
        )

    def record(self):
        """What run.json holds: the search's identity (compared on resume)."""
        return {
            "kregs_version": __version__,
            "dataset": self.dataset,
            "arch": self.arch,
            "seed": self.seed,
            "validation_split": self.validation_split,
            "fixed": self.fixed.record(),
            **self.budget.to_dict(),
        }

    @classmethod
    def from_record(cls, record, **fields):
        """The `TuneConfig` of a run.json (`record()`), with `fields` for the rest."""
        budget_fields = {f.name for f in dataclasses.fields(SearchBudget)}
        return cls(
            dataset=record["dataset"],
            budget=SearchBudget(**{k: record[k] for k in budget_fields if k in record}),
            arch=record["arch"],
            fixed=Fixed(**record["fixed"]),
            seed=record["seed"],
            validation_split=record["validation_split"],
            **fields,
        )


def _taker(options):
    """`take(*names)` pops those names out of `options` (None values dropped)."""

    def take(*names):
        out = {}
        for name in names:
            value = options.pop(name, None)
            if value is not None:
                out[name] = value
        return out

    return take
