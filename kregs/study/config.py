"""`StudyConfig`: one validated, serializable description of a `kregs study`.

No TensorFlow here: the command line builds a `StudyConfig` first.
"""

import dataclasses
import numbers

from kregs import __version__
from kregs.checks import check_arch, check_positive_int
from kregs.data import check_dataset
from kregs.errors import invalid_value
from kregs.run.budget import STUDY_PRESETS, StudyBudget, resolve
from kregs.run.device import DeviceOptions
from kregs.study.protocol import StudyValues, resolve_values

STUDY_FILE = "study.json"
# study.json fields that may change between a study and its continuation.
RESUMABLE = ("seeds", "kregs_version")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Everything a `kregs study` needs, validated on construction.

    The first group of fields says what the study is; `record()` writes it as
    study.json, and a study is continued only with the same record (less
    `RESUMABLE`: more seeds may be added). The rest says how this process runs it.

    Attributes:
        dataset: str, "mnist", "fashion_mnist" or "cifar10".
        budget: `kregs.run.budget.StudyBudget`.
        arch: str, "cnn" or "mlp".
        seeds: int >= 1, runs per configuration.
        seed: int >= 0, the first seed (runs use `seed`, `seed + 1`, ...).
        values: `kregs.study.protocol.StudyValues`, the techniques' values.
        validation_split: float in (0, 1), the share of training images held out.
        deterministic: bool, TensorFlow's op determinism during the study
            (same seed, same numbers on the same machine).
        output: str or None, the output folder (None: `runs/study-<dataset>-<UTC stamp>`).
        data_dir: str or None, where the data set's files are.
        overwrite: bool, delete an existing study in `output` first.
        device: `kregs.run.device.DeviceOptions`.

    Example:
    >>> config = StudyConfig.create("fashion_mnist", preset="smoke", seeds=2)
    >>> config.budget.epochs
    2
    """

    dataset: str = "fashion_mnist"
    budget: StudyBudget = StudyBudget()
    arch: str = "cnn"
    seeds: int = 3
    seed: int = 0
    values: StudyValues = StudyValues()
    validation_split: float = 0.1
    deterministic: bool = True
    output: str | None = None
    data_dir: str | None = None
    overwrite: bool = False
    device: DeviceOptions = DeviceOptions()

    def __post_init__(self):
        check_dataset(self.dataset)
        check_arch(self.arch)
        check_positive_int(self.seeds, "seeds")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, numbers.Integral)
            or (self.seed < 0)
        ):
            raise invalid_value("seed", self.seed, "an int >= 0")
        vs = self.validation_split
        if isinstance(vs, bool) or not isinstance(vs, numbers.Real) or not 0 < vs < 1:
            raise invalid_value("validation_split", vs, "a float in (0, 1)")

    @classmethod
    def create(cls, dataset="fashion_mnist", preset=None, **options):
        """Builds a `StudyConfig` from flat options, as `kregs study` takes them.

        Budget options (`epochs`, `batch_size`, `limit`, `test_limit`,
        `patience`, `learning_rate`) left at None take the preset's values;
        `l2`, `dropout`, `batch_norm`, `dropout_placement`, `dropout_kind` and
        `from_run` give the values (see
        `kregs.study.protocol.resolve_values`); `precision`,
        `jit_compile`, `threads` go to `DeviceOptions`; the rest are fields.

        Returns:
            A `StudyConfig`.
        """

        def take(*names):
            return {n: options.pop(n) for n in names if options.get(n) is not None}

        budget = resolve(
            STUDY_PRESETS,
            preset,
            **take("epochs", "batch_size", "limit", "test_limit", "patience", "learning_rate"),
        )
        names = ("l2", "dropout", "batch_norm", "from_run", "dropout_placement", "dropout_kind")
        for name in names:
            options.setdefault(name, None)
        values = resolve_values(
            options.pop("l2"),
            options.pop("dropout"),
            options.pop("batch_norm"),
            options.pop("from_run"),
            options.pop("dropout_placement"),
            options.pop("dropout_kind"),
        )
        device = DeviceOptions(**take("precision", "jit_compile", "threads"))
        options = {k: v for k, v in options.items() if v is not None}
        return cls(dataset=dataset, budget=budget, values=values, device=device, **options)

    def record(self):
        """What study.json holds: the study's identity (compared on continuation)."""
        return {
            "kregs_version": __version__,
            "dataset": self.dataset,
            "arch": self.arch,
            "seeds": self.seeds,
            "seed": self.seed,
            "validation_split": self.validation_split,
            "deterministic": bool(self.deterministic),
            "values": self.values.to_dict(),
            "sources": dict(self.values.sources),
            **self.budget.to_dict(),
        }
