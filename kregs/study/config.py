"""`StudyConfig`: one validated, serializable description of a `kregs study`.

No TensorFlow here: the command line builds a `StudyConfig` first.
"""

import dataclasses

from kregs import __version__
from kregs.checks import (
    check_arch,
    check_positive_int,
    check_residual_model,
    check_seed,
    check_split,
    mirrors,
)
from kregs.config import BY_NAME, DIMENSIONS
from kregs.data.dataset import Dataset, dataset_from_options, parse_size, pop_read_options
from kregs.errors import invalid_value
from kregs.run.budget import parse_duration, resolve
from kregs.run.device import DeviceOptions
from kregs.study import plan
from kregs.study.budget import STUDY_PRESETS, StudyBudget
from kregs.study.protocol import StudyValues, configurations, resolve_values
from kregs.study.sequential import LOOKS
from kregs.usermodel import ModelSource, model_options

STUDY_FILE = "study.json"
# study.json fields that may change between a study and its continuation.
RESUMABLE = ("seeds", "max_seeds", "time_budget", "kregs_version", "max_memory", "data_info")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Everything a `kregs study` needs, validated on construction.

    The first group of fields says what the study is; `record()` writes it as
    study.json, and a study is continued only with the same record (less
    `RESUMABLE`: more seeds may be added). The rest says how this process runs it.

    Attributes:
        dataset: `kregs.data.Dataset`, or the name of a built-in data set or
            "tfds:NAME".
        budget: `kregs.study.budget.StudyBudget`.
        arch: str, "cnn" or "mlp" (kregs' own models).
        model: `kregs.usermodel.ModelSource` or None: your model instead of `arch`.
        seeds: int >= 1, runs per configuration; or "auto": 3, then more where a
            verdict is still open (`kregs.study.sequential`), up to `max_seeds`.
        max_seeds: int >= 3, the seeds per configuration at most with "auto".
        time_budget: float > 0 or None, seconds the study may take ("1h" accepted):
            with "auto", no more seeds are added once it is spent (every session of the
            study counted: its time.json); None: no bound.
        seed: int >= 0, the first seed (runs use `seed`, `seed + 1`, ...).
        values: `kregs.study.protocol.StudyValues`, the techniques' values.
        sweeps: tuple of `kregs.study.plan.Sweep`: a sweep study (one base
            configuration plus one value varied) instead of the eight configurations.
        ablation: `kregs.study.plan.Ablation` or None: an ablation study of a
            tune run's best configuration instead of the eight configurations.
        validation_split: float in (0, 1), the share of training images held out.
        deterministic: bool, TensorFlow's op determinism during the study
            (same seed, same numbers on the same machine).
        output: str or None, the output folder (None: `runs/study-<dataset>-<UTC stamp>`).
        data_dir: str or None, where a named data set's files are (or TFDS' data_dir).
        max_memory: int or None, bytes the decoded images may take before a folder
            is streamed from its files (None: a share of the available memory).
        overwrite: bool, delete an existing study in `output` first.
        device: `kregs.run.device.DeviceOptions`.

    Example:
    >>> config = StudyConfig.create("fashion_mnist", preset="smoke", seeds=2)
    >>> config.budget.epochs
    2
    """

    dataset: object = "fashion_mnist"
    budget: StudyBudget = StudyBudget()
    arch: str = "cnn"
    model: object = None
    seeds: object = 3
    max_seeds: int = 20
    time_budget: float | None = None
    seed: int = 0
    values: StudyValues = StudyValues()
    sweeps: tuple = ()
    ablation: plan.Ablation | None = None
    validation_split: float = 0.1
    deterministic: bool = True
    output: str | None = None
    data_dir: str | None = None
    max_memory: int | None = None
    overwrite: bool = False
    device: DeviceOptions = DeviceOptions()

    def __post_init__(self):
        if isinstance(self.dataset, str):
            object.__setattr__(self, "dataset", Dataset.from_name(self.dataset, self.data_dir))
        if not isinstance(self.dataset, Dataset):
            raise invalid_value("dataset", self.dataset, "a kregs.data.Dataset or a name")
        if self.max_memory is not None:
            check_positive_int(self.max_memory, "max_memory")
        check_arch(self.arch)
        if self.seeds != "auto":
            check_positive_int(self.seeds, "seeds")
        check_positive_int(self.max_seeds, "max_seeds")
        if self.seeds == "auto" and self.max_seeds < LOOKS[0]:
            raise invalid_value("max_seeds", self.max_seeds, f"an int >= {LOOKS[0]} with auto")
        if isinstance(self.time_budget, str):
            object.__setattr__(self, "time_budget", parse_duration(self.time_budget))
        if self.time_budget is not None and not (
            isinstance(self.time_budget, (int, float)) and self.time_budget > 0
        ):
            raise invalid_value("time_budget", self.time_budget, "seconds > 0, or None")
        check_seed(self.seed)
        check_split(self.validation_split)
        object.__setattr__(self, "sweeps", tuple(self.sweeps))
        if self.sweeps and self.ablation is not None:
            raise invalid_value("sweep", self.sweeps, "no sweep in an ablation (--from-run)")
        if self.sweeps:
            plan.sweep_configurations(self.sweeps, self.values)  # one base, valid values
        for sweep in self.sweeps:
            needs = BY_NAME[sweep.parameter].requires
            if needs == "finetune" and not (self.model is not None and self.model.finetune):
                raise invalid_value(
                    "sweep",
                    sweep.parameter,
                    "a model whose weights every run starts from (--model with --init "
                    "pretrained): L2-SP pulls them towards those weights",
                )
            if sweep.parameter in self.values.common:
                raise invalid_value(
                    sweep.parameter,
                    self.values.common[sweep.parameter],
                    f"no fixed value for what --sweep {sweep.parameter} varies",
                )
        check_residual_model(
            "stochastic_depth", self.values.common.get("stochastic_depth"), self.model, self.arch
        )
        augment = self.values.common.get("augment")
        if augment is not None and mirrors(augment) and not self.dataset.flips:
            raise invalid_value(
                "augment",
                augment,
                f"no flips for {self.dataset.name}: a mirror may change its labels",
            )

    @property
    def kind(self):
        """`"configurations"`, `"sweep"` or `"ablation"` (see `kregs.study.plan`)."""
        if self.sweeps:
            return "sweep"
        return "configurations" if self.ablation is None else "ablation"

    def configurations(self):
        """`{name: RegConfig}`: what the study trains, in report order."""
        if self.kind == "sweep":
            return plan.sweep_configurations(self.sweeps, self.values)
        if self.kind == "ablation":
            return self.ablation.configurations()
        return configurations(self.values)

    @classmethod
    def create(cls, dataset=None, preset=None, **options):
        """Builds a `StudyConfig` from flat options, as `kregs study` takes them.

        Budget options (`epochs`, `steps`, `batch_size`, `limit`, `test_limit`,
        `patience`, `learning_rate`) left at None take the preset's values (`epochs`
        alone replaces the preset's `steps`);
        every field of `kregs.RegConfig` and `values_from` give the values (see
        `kregs.study.protocol.resolve_values`); `sweep` (a sequence of
        `"PARAM"` or `"PARAM=V1,V2"`) with `base` makes a sweep study;
        `from_run` (a tune run's folder) makes an ablation study of its best
        configuration, with that run's data set, architecture and learning rate
        unless given; `precision`, `jit_compile`, `threads` go to
        `DeviceOptions`; `data` and the data options (`image_size`, ...) to the
        `kregs.data.Dataset` (`dataset_from_options`); the rest are fields.
        `dataset` None: the --from-run run's, else fashion_mnist.

        Returns:
            A `StudyConfig`.
        """

        def take(*names):
            return {n: options.pop(n) for n in names if options.get(n) is not None}

        names = (*(d.name for d in DIMENSIONS), "values_from")
        for name in (*names, "from_run", "sweep", "base"):
            options.setdefault(name, None)
        from_run, base = options.pop("from_run"), options.pop("base") or "none"
        ablation = plan.ablation_from_run(from_run) if from_run is not None else None
        sweeps = tuple(plan.parse_sweep(text, base) for text in options.pop("sweep") or ())
        budget_options = take(
            "epochs", "steps", "batch_size", "limit", "test_limit", "patience", "learning_rate"
        )
        epochs_only = "epochs" in budget_options and "steps" not in budget_options
        data = options.pop("data", None)
        if ablation is not None:
            budget_options.setdefault("learning_rate", ablation.learning_rate)
            if dataset is None and data is None:
                dataset = Dataset.from_record(ablation.dataset, options.get("data_dir"))
            if ablation.model is not None and options.get("model") is None:
                if options.get("arch") is None:  # the run's model
                    options["model"] = ModelSource.from_record(ablation.model)
            elif options.get("model") is None:
                options["arch"] = options.get("arch") or ablation.arch
        budget = resolve(STUDY_PRESETS, preset, **budget_options)
        if epochs_only:  # epochs given: they are the budget, not the preset's steps
            budget = dataclasses.replace(budget, steps=None)
        values = resolve_values(**{name: options.pop(name) for name in names})
        device = DeviceOptions(**take("precision", "jit_compile", "threads"))
        if not isinstance(dataset, Dataset):
            read = pop_read_options(options)
            dataset = dataset_from_options(dataset, data, options.get("data_dir"), **read)
        if isinstance(options.get("max_memory"), str):
            options["max_memory"] = parse_size(options["max_memory"])
        options.update(model_options(options))
        options = {k: v for k, v in options.items() if v is not None}
        return cls(
            dataset=dataset,
            budget=budget,
            values=values,
            sweeps=sweeps,
            ablation=ablation,
            device=device,
            **options,
        )

    def record(self):
        """What study.json holds: the study's identity (compared on continuation)."""
        return {
            "kregs_version": __version__,
            "dataset": self.dataset.record(),
            "arch": self.arch,
            **({"model": self.model.record()} if self.model is not None else {}),
            "seeds": self.seeds,
            **({"max_seeds": self.max_seeds} if self.seeds == "auto" else {}),
            **({"time_budget": self.time_budget} if self.time_budget else {}),
            "seed": self.seed,
            "validation_split": self.validation_split,
            "deterministic": bool(self.deterministic),
            "values": self.values.to_dict(),
            "sources": dict(self.values.sources),
            **self.budget.to_dict(),
            # Only in the kinds that have them: a study of the eight configurations
            # keeps the record it had before sweeps and ablations existed.
            **({"sweeps": [s.to_dict() for s in self.sweeps]} if self.sweeps else {}),
            **({"ablation": self.ablation.to_dict()} if self.ablation else {}),
        }
