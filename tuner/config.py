"""`TuneConfig`: one validated, serializable description of a `kregs tune` run.

No TensorFlow, Keras or KerasTuner here: the command line builds a
`TuneConfig` before anything heavy is imported.
"""

import dataclasses
import numbers

from kregs import __version__
from kregs.checks import (
    ARCHITECTURES,
    check_arch,
    check_learning_rate,
    check_positive_int,
    check_residual_model,
    check_seed,
    check_split,
    mirrors,
)
from kregs.config import BY_NAME, DIMENSIONS
from kregs.data.dataset import Dataset, dataset_from_options, parse_size, pop_read_options
from kregs.deploy.formats import FIELDS as DEPLOY_FIELDS
from kregs.deploy.formats import DeployOptions, renamed
from kregs.errors import invalid_value
from kregs.run.budget import resolve
from kregs.run.device import DeviceOptions
from kregs.tuner.budget import SEARCH_PRESETS, SearchBudget
from kregs.tuner.distributed.addressing import ROLES, parse_oracle, tuner_id
from kregs.usermodel import ModelSource, model_options

RUN_FILE = "run.json"
# run.json fields that may change between a run and its resumption (the precision is
# what this machine has: each trial records its own).
# The time budget and pruning may change too: they decide which trials start or go on, not
# what a trial is; so may the refit's start (a changed one trains the refit again).
RESUMABLE = (
    "max_trials",
    "kregs_version",
    "precision",
    "max_memory",
    "data_info",
    "notes",
    "pruning",
    "time_budget",
    "refit_from",
    "verdicts",
    "stop",
)
STRATEGIES = ("mirrored",)

__all__ = ["ARCHITECTURES", "ClusterOptions", "Fixed", "TuneConfig", "RUN_FILE", "STRATEGIES"]


class Fixed:
    """Dimensions of the search space fixed to one value; the others are searched.

    Its names are `kregs.RegConfig`'s fields (each checked as `RegConfig` checks
    it) and `learning_rate`.

    Args:
        **values: name -> value; None means "searched".

    Example:
    >>> Fixed(l2=0.0, dropout=0.3).get("dropout"), Fixed().get("l2")
    (0.3, None)
    """

    NAMES = (*(d.name for d in DIMENSIONS), "learning_rate")
    # run.json of kregs 0.1 listed these even when searched (as null): a run written then
    # still resumes.
    ALWAYS_RECORDED = ("l2", "dropout", "batch_norm", "learning_rate")

    def __init__(self, **values):
        unknown = sorted(set(values) - set(self.NAMES))
        if unknown:
            raise invalid_value("fixed", unknown, f"names among {', '.join(self.NAMES)}")
        checked = {}
        for name, value in values.items():
            if value is None:
                continue
            if name == "learning_rate":
                checked[name] = check_learning_rate(value)
            else:
                checked[name] = BY_NAME[name].validate(value)
        self._values = {n: checked[n] for n in self.NAMES if n in checked}

    def get(self, name):
        """The fixed value of `name`, or None where it is searched."""
        if name not in self.NAMES:
            raise invalid_value("name", name, f"one of {', '.join(self.NAMES)}")
        return self._values.get(name)

    def items(self):
        """`(name, value)` of every fixed dimension, in `NAMES` order."""
        return self._values.items()

    def record(self):
        """The fixed values as run.json holds them."""
        return {
            n: self._values.get(n)
            for n in self.NAMES
            if n in self._values or n in self.ALWAYS_RECORDED
        }

    def __eq__(self, other):
        return isinstance(other, Fixed) and self._values == other._values

    def __hash__(self):
        return hash(tuple(self._values.items()))

    def __repr__(self):
        return f"Fixed({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


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
        dataset: `kregs.data.Dataset`, or the name of a built-in data set
            ("mnist", "fashion_mnist", "cifar10") or "tfds:NAME".
        budget: `kregs.tuner.budget.SearchBudget`.
        arch: str, "cnn" or "mlp" (kregs' own models).
        model: `kregs.usermodel.ModelSource` (or what `ModelSource.create` takes: a
            `keras.Model`, a `.keras` path, `package.module:function`) or None:
            your model instead of `arch`.
        fixed: `Fixed`, dimensions not searched.
        seed: int, seeds the split, the weights and the search.
        validation_split: float in (0, 1), the share of training images held out.
        output: str or None, the output folder (None: `runs/<dataset>-<UTC stamp>`).
        data_dir: str or None, where a named data set's files are (or TFDS' data_dir).
        max_memory: int or None, bytes the decoded images may take before a folder
            is streamed from its files (None: a share of the available memory).
        overwrite: bool, delete an existing run in `output` first.
        keep_best: int, how many of the best models go to best/.
        device: `kregs.run.device.DeviceOptions`.
        strategy: None, "mirrored" or a `tf.distribute.Strategy`: each trial
            trains on all its replicas; `batch_size` is then per replica.
        cluster: `ClusterOptions` or None (one process).
        deployment: `kregs.deploy.DeployOptions` or None: formats written beside the
            SavedModel (LiteRT, ONNX, OpenVINO), each checked on the test images.
        verbose: bool, Keras' progress bar for every epoch.

    Example:
    >>> config = TuneConfig.create("fashion_mnist", preset="smoke", output="runs/smoke")
    >>> config.budget.max_trials
    3
    """

    dataset: object = "fashion_mnist"
    budget: SearchBudget = SearchBudget()
    arch: str = "cnn"
    model: object = None
    fixed: Fixed = Fixed()
    seed: int = 0
    validation_split: float = 0.1
    output: str | None = None
    data_dir: str | None = None
    max_memory: int | None = None
    overwrite: bool = False
    keep_best: int = 3
    device: DeviceOptions = DeviceOptions()
    strategy: object = None
    cluster: ClusterOptions | None = None
    deployment: DeployOptions | None = None
    verbose: bool = False

    def __post_init__(self):
        if isinstance(self.dataset, str):
            object.__setattr__(self, "dataset", Dataset.from_name(self.dataset, self.data_dir))
        if not isinstance(self.dataset, Dataset):
            raise invalid_value(
                "dataset", self.dataset, "a kregs.data.Dataset or a data set's name"
            )
        if self.max_memory is not None:
            check_positive_int(self.max_memory, "max_memory")
        check_arch(self.arch)
        if self.model is not None and not isinstance(self.model, ModelSource):
            object.__setattr__(self, "model", ModelSource.create(self.model))
        if self.fixed.get("l2sp") and not (self.model is not None and self.model.finetune):
            raise invalid_value(
                "l2sp",
                self.fixed.get("l2sp"),
                "a model whose weights the trials start from (--model with --init pretrained): "
                "L2-SP pulls them towards those weights",
            )
        check_residual_model(
            "stochastic_depth", self.fixed.get("stochastic_depth"), self.model, self.arch
        )
        check_seed(self.seed)
        check_split(self.validation_split)
        if not isinstance(self.fixed, Fixed):
            raise invalid_value("fixed", self.fixed, "a kregs.tuner.config.Fixed")
        check_positive_int(self.keep_best, "keep_best")
        if self.strategy not in (None, *STRATEGIES) and not hasattr(
            self.strategy, "num_replicas_in_sync"
        ):
            raise invalid_value(
                "strategy", self.strategy, "None, 'mirrored' or a tf.distribute.Strategy"
            )
        if self.cluster is not None and self.output is None:
            raise invalid_value("output", self.output, "the shared output folder of the run")
        augment = self.fixed.get("augment")
        if augment is not None and mirrors(augment) and not self.dataset.flips:
            raise invalid_value(
                "augment",
                augment,
                f"no flips for {self.dataset.name}: a mirror may change its labels "
                "(--flips says it does not); use shift or shift+erase",
            )
        space = self.budget.space
        for name, value in self.fixed.items():
            if name != "learning_rate" and not BY_NAME[name].searched_in(space):
                raise invalid_value(
                    name,
                    value,
                    f"a search space with this dimension (the {space} space has none; "
                    f"it is in: {', '.join(BY_NAME[name].search)})",
                )

    @classmethod
    def create(cls, dataset=None, preset=None, **options):
        """Builds a `TuneConfig` from flat options, as `kregs tune` takes them.

        Budget options (`algorithm`, `max_trials`, `epochs`, `batch_size`,
        `space`, `limit`, `patience`, `trial_images`, `refit`, `refit_from`, `baseline`,
        `pruning`, `time_budget`: seconds or a duration such as "10m") left at None
        take the preset's values;
        `learning_rate` and every field of `kregs.RegConfig` (`l2`, `dropout`,
        ...: `Fixed.NAMES`) fix a dimension;
        `precision`, `jit_compile`, `threads` go to `DeviceOptions`;
        `role`, `oracle`, `worker_id`, `worker_timeout`, `oracle_timeout` to
        `ClusterOptions` (when `role` is given); `export_formats`, `quantize`,
        `export_precision`, `max_accuracy_drop`, `accept_accuracy_drop` to the
        `kregs.deploy.DeployOptions` (`deployment`); `data`, `image_size`,
        `color_mode`, `test_split`, `skip_bad_images`, `pixel_range`, `flips` to
        the `kregs.data.Dataset` (`dataset_from_options`); `max_memory` may be a
        size such as "2G"; the rest are fields.

        Args:
            dataset: a `kregs.data.Dataset`, a data set's name, or None
                (`data`, or else fashion_mnist).
            preset: str or None, "smoke", "quick" or "paper".
            **options: as above.

        Returns:
            A `TuneConfig`.
        """
        options = renamed(options, {"top_k": "keep_best"}, "TuneConfig.create")
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
                "refit_from",
                "baseline",
                "pruning",
                "time_budget",
                "folds",
                "stop",
            ),
        )
        fixed = Fixed(**take(*Fixed.NAMES))
        device = DeviceOptions(**take("precision", "jit_compile", "threads"))
        if not isinstance(dataset, Dataset):
            read = pop_read_options(options)
            data = options.pop("data", None)
            dataset = dataset_from_options(dataset, data, options.get("data_dir"), **read)
        if isinstance(options.get("max_memory"), str):
            options["max_memory"] = parse_size(options["max_memory"])
        options.update(model_options(options))  # (model or arch)
        cluster = take("role", "oracle", "worker_id", "worker_timeout", "oracle_timeout")
        role = cluster.get("role")
        cluster = ClusterOptions(**cluster) if role is not None else None
        return cls(
            dataset=dataset,
            budget=budget,
            fixed=fixed,
            device=device,
            cluster=cluster,
            deployment=deployment_options(take),
            **options,
        )

    def record(self):
        """What run.json holds: the search's identity (compared on resume)."""
        return {
            "kregs_version": __version__,
            "dataset": self.dataset.record(),
            # (only where there is one: the record of a run of kregs' own model stays)
            **({"model": self.model.record()} if self.model is not None else {}),
            "arch": self.arch,
            "seed": self.seed,
            "validation_split": self.validation_split,
            "fixed": self.fixed.record(),
            **self.budget.to_dict(),
        }

    def load_data(self, max_memory=None):
        """The run's splits, as every process of the run makes them: its data set,
        validation split, limit and seed (`max_memory`: None takes the run's)."""
        return self.dataset.load(
            validation_split=self.validation_split,
            limit=self.budget.limit,
            seed=self.seed,
            max_memory=max_memory or self.max_memory,
        )

    @classmethod
    def from_record(cls, record, **fields):
        """The `TuneConfig` of a run.json (`record()`), with `fields` for the rest."""
        budget_fields = {f.name for f in dataclasses.fields(SearchBudget)}
        return cls(
            dataset=Dataset.from_record(record["dataset"], fields.get("data_dir")),
            budget=SearchBudget(**{k: record[k] for k in budget_fields if k in record}),
            arch=record["arch"],
            model=ModelSource.from_record(record["model"]) if "model" in record else None,
            fixed=Fixed(**record["fixed"]),
            seed=record["seed"],
            validation_split=record["validation_split"],
            **fields,
        )


def deployment_options(take):
    """The `DeployOptions` of `--export-format` and the options that go with it, or None
    where none of them is given (the SavedModel alone, in float32, unchecked).

    The search's own export stays the SavedModel: the formats named are written
    beside it, as the same version, each checked on the test images. The precision and
    the accuracy check apply to the SavedModel too, with or without other formats.
    """
    options = take(*DEPLOY_FIELDS)
    formats = options.pop("export_formats", None) or ()
    if not formats and options.get("quantize", "none") != "none":
        expected = "none without --export-format litert (it quantizes LiteRT)"
        raise invalid_value("quantize", options["quantize"], expected)
    if not formats and not options:
        return None
    return DeployOptions.create(export_formats=("savedmodel", *formats), **options)


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
