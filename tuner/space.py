"""`SearchSpace`: which dimensions a search varies, over which ranges, and which it fixes.

The ranges are those `kregs.RegConfig` declares for each field
(`kregs.dimensions`); this module turns them into KerasTuner hyperparameters:

- a `FloatRange` with `toggle` is a boolean `use_<name>` and, when on, the float
  `<name>` in a conditional scope (the default space's L2 and dropout);
- a `FloatRange` with a `group` is one choice of the group's hyperparameter
  (`penalty`: none, l2 or decay) and its float in that choice's scope;
- `Choices` is `hp.Choice(<name>, values)`;
- a field whose `needs` do not hold (no dropout: no placement) is not searched
  and takes its default; where a condition's parent was searched, the child is
  declared in the parent's conditional scope.

A dimension fixed by the user (`Fixed`) is never searched; a space that does not
search a dimension keeps it at its default.
"""

import contextlib
import dataclasses

from kregs.config import BY_NAME, DIMENSIONS, RegConfig
from kregs.dimensions import Choices, FloatRange
from kregs.errors import invalid_value
from kregs.run.budget import DEFAULT_LEARNING_RATE
from kregs.tuner.budget import SPACES
from kregs.tuner.config import Fixed

# Adam's peak learning rate: searched in the default and extended spaces, fixed in the paper's.
LEARNING_RATE = FloatRange(1e-4, 1e-2, default=DEFAULT_LEARNING_RATE, log=True, step=10)
PAPER_LEARNING_RATE = 1e-3
# The well-tried setting a search tries right after its control (`recipe_values`): BN
# before each activation, dropout 0.3 in the dense head, decoupled weight decay, flips
# (where the labels allow them) and shifts, a peak learning rate of 2e-3.
RECIPE = {
    "weight_decay": 0.01,
    "dropout": 0.3,
    "dropout_placement": "head",
    "batch_norm": "before_activation",
    "augment": "flip+shift",
}
RECIPE_LEARNING_RATE = 2e-3


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a `RegularizationHyperModel` searches.

    Attributes:
        name: str, "default", "extended" or "paper" (see `kregs.RegConfig`'s fields).
        fixed: `kregs.tuner.config.Fixed`, the dimensions not searched.
        flips: bool, whether a left-right mirror keeps the data's labels: only
            then are flips searched or allowed.
        discrete: bool, give every float a step (as `GridSearch` needs).
        finetune: bool, the trials start from a model's pre-trained weights: L2-SP
            (a penalty towards them) is a choice of the penalty.
        residual: bool, the model has residual connections: stochastic depth is
            searched.

    Example:
    >>> space = SearchSpace("extended", Fixed(dropout=0.3), flips=True)
    >>> space.reg_config(keras_tuner.HyperParameters(), arch="cnn").dropout
    0.3
    """

    name: str = "default"
    fixed: Fixed = Fixed()
    flips: bool = False
    discrete: bool = False
    finetune: bool = False
    residual: bool = False

    def __post_init__(self):
        if self.name not in SPACES:
            raise invalid_value("space", self.name, f"one of {', '.join(SPACES)}")
        if not isinstance(self.fixed, Fixed):
            object.__setattr__(self, "fixed", Fixed(**dict(self.fixed or {})))
        augment = self.fixed.get("augment")
        if augment is not None and RegConfig(augment=augment).flips and not self.flips:
            raise invalid_value(
                "augment", augment, "no flips: a mirror does not keep this data's labels"
            )

    def searched(self, dim, arch):
        """Whether `dim` is a dimension of this space that the user did not fix, for `arch`."""
        return (
            dim.searched_in(self.name)
            and self.fixed.get(dim.name) is None
            and (not dim.archs or arch in dim.archs)
            and (dim.requires is None or getattr(self, dim.requires))
        )

    def reg_config(self, hp, arch="cnn"):
        """The `RegConfig` the hyperparameters `hp` describe (declaring them in `hp`).

        Args:
            hp: `keras_tuner.HyperParameters`.
            arch: str, the architecture (some dimensions only matter in the CNN).
        """
        values, deciders = {}, {}
        groups = self._groups(arch)
        for dim in DIMENSIONS:
            fixed = self.fixed.get(dim.name)
            if fixed is not None:
                values[dim.name] = fixed
                continue
            scopes = self._scopes(dim, values, deciders, arch)
            if scopes is None or not self.searched(dim, arch):  # does not matter, or not searched
                values[dim.name] = dim.default
                continue
            with contextlib.ExitStack() as stack:
                for parent, parent_values in scopes:
                    stack.enter_context(hp.conditional_scope(parent, parent_values))
                values[dim.name], deciders[dim.name] = self._sample(dim, hp, groups)
        return RegConfig(**values)

    def learning_rate(self, hp):
        """Adam's (peak) learning rate of `hp`: fixed, the paper's 1e-3, or searched."""
        fixed = self.fixed.get("learning_rate")
        if fixed is not None:
            return float(fixed)
        if self.name == "paper":
            return PAPER_LEARNING_RATE
        return self._float(hp, "learning_rate", LEARNING_RATE)

    def baseline_values(self, arch="cnn"):
        """The hyperparameter values of the unregularized model: every searched technique off.

        A search that tries it first has its control: how far the plain model
        over-fits, and whether regularization beats it.

        Returns:
            dict, hyperparameter name -> value (searched dimensions only).
        """
        return self.values_of({}, arch)

    def recipe_values(self, arch="cnn"):
        """The hyperparameter values of `RECIPE`, the well-tried setting, as far as this
        space searches its dimensions (flips only where the data allows them).

        A search that tries it right after the control starts from what a careful
        engineer would train by hand; the rest of the search has that to beat.

        Returns:
            dict, hyperparameter name -> value.
        """
        recipe = dict(RECIPE)
        if not self.flips:
            recipe["augment"] = recipe["augment"].replace("flip+", "")
        values = self.values_of(recipe, arch)
        if self.name != "paper" and self.fixed.get("learning_rate") is None:
            values["learning_rate"] = RECIPE_LEARNING_RATE
        return values

    def values_of(self, config, arch="cnn"):
        """The hyperparameter values of the technique values `config` (a dict of `RegConfig`
        fields; a technique not named is off, a searched choice not named at its default).

        Returns:
            dict, hyperparameter name -> value (searched dimensions only).
        """
        values = {}
        for dim in DIMENSIONS:
            if not self.searched(dim, arch):
                continue
            value = config.get(dim.name, dim.off if dim.technique else None)
            spec = dim.search[self.name]
            if isinstance(spec, Choices):
                if value is not None and value in spec.values:
                    values[dim.name] = value
            elif spec.group is not None:
                if value == dim.off:
                    values.setdefault(spec.group[0], "none")
                else:
                    values[spec.group[0]] = spec.group[1]
                    values[dim.name] = value
            elif spec.toggle:
                values[f"use_{dim.name}"] = value != dim.off
                if value != dim.off:
                    values[dim.name] = value
            elif value is not None:
                values[dim.name] = value
        return values

    def _groups(self, arch):
        """`{group: [member names in order]}` of the groups this space searches as one choice."""
        groups = {}
        for dim in DIMENSIONS:
            spec = dim.search.get(self.name)
            if (
                isinstance(spec, FloatRange)
                and spec.group is not None
                and (dim.requires is None or getattr(self, dim.requires))
            ):
                groups.setdefault(spec.group[0], []).append(dim)
        # A group with a member fixed is not searched: its other members stay off.
        return {
            g: members
            for g, members in groups.items()
            if all(self.fixed.get(d.name) is None for d in members)
        }

    def _scopes(self, dim, values, deciders, arch):
        """The conditional scopes `dim` is declared in, or None when its needs do not hold."""
        if dim.archs and arch not in dim.archs:
            return None
        scopes = []
        for need in dim.needs:
            parent = BY_NAME[need.parent]
            if not need.holds(values[need.parent], parent):
                return None
            decider = deciders.get(need.parent)
            if decider is not None:  # the parent was searched: a condition on it
                name, on_values = decider
                scopes.append((name, need.values or on_values))
        return scopes

    def _sample(self, dim, hp, groups):
        """`(value, decider)`: the dimension's value from `hp`, and `(hp name, values that
        mean "on")` of the hyperparameter that decided it (for its children's conditions)."""
        spec = dim.search[self.name]
        if isinstance(spec, Choices):
            choices = [v for v in spec.values if self.flips or not _flips(dim, v)]
            value = hp.Choice(dim.name, choices, default=spec.default)
            on = [v for v in choices if v != dim.off]
            return value, (dim.name, on)
        if spec.group is not None:
            group, member = spec.group
            if group not in groups:
                return dim.default, None
            members = [d.search[self.name].group[1] for d in groups[group]]
            first = groups[group][0].search[self.name].group[1]
            chosen = hp.Choice(group, ["none", *members], default=first)
            if chosen != member:
                return dim.off, None
            with hp.conditional_scope(group, [member]):
                return self._float(hp, dim.name, spec), (group, [member])
        if spec.toggle:
            if not hp.Boolean(f"use_{dim.name}", default=spec.start_on):
                return dim.off, None
            with hp.conditional_scope(f"use_{dim.name}", [True]):
                return self._float(hp, dim.name, spec), (f"use_{dim.name}", [True])
        return self._float(hp, dim.name, spec), None

    def _float(self, hp, name, spec):
        step = spec.step if self.discrete else None
        sampling = "log" if spec.log else "linear"
        return hp.Float(
            name, spec.low, spec.high, sampling=sampling, step=step, default=spec.default
        )


def _flips(dim, value):
    return dim.name == "augment" and RegConfig(augment=value).flips
