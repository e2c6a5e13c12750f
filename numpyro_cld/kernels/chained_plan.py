"""The plan of a :class:`~numpyro_cld.ChainedLangevin` on one model: what it runs, resolved
once at ``init`` from one trace of the model and held in a frozen object.

:func:`chained_plan` decides the patches, the route (prefix sweep, full sweep or the tempered
route), where the prefix conditionals come from, the noise levels, their step sizes and the
steps per patch; the kernel then only binds the functional samplers to it. ``str(plan)``
says it in one line (``kernel.plan`` after ``init``)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..blocks.patches import PatchLayout
from ..samplers.langevin import dense_by_default
from ..schedules import chained_sigmas, chained_step_sizes
from ..sources.model_prefix import model_draws
from .chained_setup import (
    check_smoothed_prefix,
    choose_conditional,
    mass_with_levels,
    model_layout,
    prefix_kind,
)
from .tempered import tempered_reference, tempered_unavailable

__all__ = ["ChainedPlan", "chained_plan", "gradients_per_transition"]

REFERENCES = {"prior": "the prior", "gaussian": "a Gaussian fitted in warmup"}
# MALA steps per transition on the tempered route (docs/posteriors.md, "Moves"): the hot
# replicas only carry modes between the reference and the target; the posterior replica's
# draws are the run's, and 6 steps gave 1.5-3.6x its ESS per gradient at 2 (logistic d=11,
# eight schools non-centred, Dirichlet-multinomial, robust regression; 12 gave no more)
HOT_STEPS = 2
TARGET_STEPS = 6


@dataclass(frozen=True)
class ChainedPlan:
    """What a :class:`~numpyro_cld.ChainedLangevin` runs on one model (fields in the order
    a transition uses them).

    - **route** - ``"prefix"`` (the paper's sweep over prefix conditionals), ``"full"``
      (Metropolis-within-Gibbs over full conditionals) or ``"tempered"`` (replica exchange
      from a reference to the target, MALA at every power; the patch sweep at the
      posterior with ``sweep_posterior``).
    - **layout** - the patches (:class:`~numpyro_cld.blocks.PatchLayout`), in site order.
    - **prefix_kind** - where the prefix conditionals come from: ``"user"`` (a
      ``prefix_source``), ``"potential"`` (a ``prefix_potential``), ``"gaussian"`` (closed
      form) or ``"masked"`` (exact masked marginals of the model); None off the prefix route.
    - **sigmas** - the noise levels of the annealed prefix sweep (Chained-ALD), or None.
    - **step_sizes** - ``(L,)`` initial step size of each level when ``sigmas`` end at 0.
    - **step_size** - ``eta`` (of the last level with ``sigmas``).
    - **steps_per_patch** - Langevin steps per patch (per level with ``sigmas``).
    - **adapt_mass_matrix** - what the sweep's sampler is given (None: its default).
    - **betas** - the tempered route's initial ladder, ``0`` first and ``1`` last, or None.
    - **adapt_betas** - whether warmup re-spaces the ladder.
    - **hot_steps** - MALA steps of each replica of a power in ``(0, 1)`` per transition
      (tempered route).
    - **target_steps** - MALA steps of the posterior replica per transition (tempered route
      without ``sweep_posterior``).
    - **dense_mass** - whether that MALA adapts a dense mass matrix (``d <= 200``).
    - **reference** - the tempered route's reference: ``"prior"`` or ``"gaussian"``.
    - **sweep_posterior** - whether the posterior replica of the tempered route is moved by
      the patch sweep (else by ``target_steps`` whole-vector MALA steps).
    - **barrier** - the communication barrier ``Lambda`` a pilot estimated to size the
      ladder (``betas="auto"``), or None.
    - **pilot_gradients** - the gradients that pilot cost (one chain, once per run).
    """

    route: str
    layout: PatchLayout
    prefix_kind: str | None
    sigmas: np.ndarray | None
    step_sizes: np.ndarray | None
    step_size: float
    steps_per_patch: int
    adapt_mass_matrix: bool | None
    betas: np.ndarray | None = None
    adapt_betas: bool = False
    hot_steps: int = HOT_STEPS
    target_steps: int = TARGET_STEPS
    dense_mass: bool = False
    reference: str | None = None
    sweep_posterior: bool = False
    barrier: float | None = None
    pilot_gradients: float = 0.0

    @property
    def gradients_per_transition(self) -> float:
        """Whole-model gradients of one chain's transition (:func:`gradients_per_transition`)."""
        return gradients_per_transition(self)

    def __str__(self) -> str:
        lay = self.layout
        sizes = sorted({len(idx) for idx in lay.indices}) or [0]
        of = f"of {sizes[0]}" if len(sizes) == 1 else f"of {sizes[0]}-{sizes[-1]}"
        sweep = f"sweep over {lay.num_patches} patches {of}, {self.steps_per_patch} steps each"
        if self.route == "tempered":
            ladder = "adapted in warmup" if self.adapt_betas else "as given"
            if self.barrier is not None:
                ladder = f"2 Lambda + 1 with Lambda = {self.barrier:.1f} from a pilot, {ladder}"
            head = (
                f"route: tempered from {REFERENCES[self.reference]}, {len(self.betas) - 1} powers "
                f"({ladder}), hot replicas: MALA x {self.hot_steps}"
            )
            if self.sweep_posterior:
                return f"{head}; posterior: full {sweep}"
            return (
                f"{head}; posterior: MALA x {self.target_steps}"
                f"{' (dense mass)' if self.dense_mass else ''}, patches not swept "
                "(sweep_posterior=False)"
            )
        if self.route == "prefix":
            levels = "" if self.sigmas is None else f" at {len(self.sigmas)} noise levels"
            return f"route: prefix ({self.prefix_kind} conditionals), {sweep}{levels}"
        return f"route: full conditionals, {sweep}"


def gradients_per_transition(plan: ChainedPlan) -> float:
    """Gradient evaluations of one chain's transition under ``plan``, in whole-model
    gradients, as the benchmarks count them (``docs/benchmarks.md``).

    A patch step costs a whole gradient on a generic model (reverse mode costs as much for
    one patch as for all coordinates), and ``patch_size / d`` of one where the prefix
    conditionals are closed form (``"gaussian"``, ``"masked"``); each sweep ends with one
    gradient of the whole target. On the tempered route every replica of a power in
    ``(0, 1]`` takes its local steps and one gradient after the swaps, and the swaps take
    one log-likelihood evaluation per replica, counted as a gradient (an upper bound: a
    forward pass costs about half of one).
    """
    lay = plan.layout
    levels = 1 if plan.sigmas is None else len(plan.sigmas)
    sweep = lay.num_patches * plan.steps_per_patch * levels
    if plan.route == "tempered":
        n = len(plan.betas) - 1
        posterior = sweep if plan.sweep_posterior else plan.target_steps
        return float((n - 1) * (plan.hot_steps + 1) + posterior + 1 + (n + 1))
    if plan.route == "prefix" and plan.prefix_kind in ("gaussian", "masked"):
        return float(levels * plan.steps_per_patch + 1)  # sum of patch_size / d is 1
    return float(sweep + 1)


def chained_plan(
    site_trace: dict | None,
    one_params: Any,
    *,
    model: Callable | None,
    model_args: tuple,
    model_kwargs: dict,
    conditional: str,
    patch_size: int,
    patches: Sequence | None,
    order: str,
    sigmas: Any,
    auto_sigmas: bool,
    step_size: float,
    steps_per_patch: int | None,
    adapt_mass_matrix: bool | None,
    ladder: tuple[np.ndarray, bool],
    has_density: bool = True,
    sweep_posterior: bool | None = None,
    prefix_source: Any = None,
    prefix_potential: Callable | None = None,
) -> ChainedPlan:
    """Resolve the plan of a :class:`~numpyro_cld.ChainedLangevin` from the (checked)
    constructor arguments, one chain's ``one_params`` and ``site_trace``, the kernel's one
    trace of the model (None for a ``potential_fn``/``score_fn``). The model is run again
    only for the draws that scale ``sigmas="auto"`` on a model with Gaussian prefixes."""
    layout = model_layout(site_trace, one_params, patch_size=patch_size, patches=patches)
    reference, why_not_prior = tempered_reference(site_trace)
    route, kind = choose_conditional(
        layout,
        conditional,
        explicit_levels=sigmas is not None,
        order=order,
        tempered_unavailable=lambda: tempered_unavailable(has_density),
        tempered_reference=(reference, why_not_prior),
        prefix=lambda: prefix_kind(
            layout,
            model,
            model_args,
            model_kwargs,
            prefix_source,
            prefix_potential,
            None if patches is not None else patch_size,
            site_trace=site_trace,
        ),  # fmt: skip
    )
    if sigmas is not None:
        check_smoothed_prefix(kind)
    if auto_sigmas:  # annealed only where the smoothed prefix conditionals are exact
        gaussian = kind == "gaussian"
        draws = (
            model_draws(model, model_args, model_kwargs, trace_=site_trace) if gaussian else None
        )
        sigmas = None if draws is None else chained_sigmas(draws, layout.starts)
    sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
    tempered = route == "tempered"
    return ChainedPlan(
        route=route,
        layout=layout,
        prefix_kind=kind,
        sigmas=sigmas,
        step_sizes=chained_step_sizes(sigmas, step_size),
        step_size=step_size,
        steps_per_patch=steps_per_patch or (20 if sigmas is None else 10),
        adapt_mass_matrix=mass_with_levels(sigmas, adapt_mass_matrix),
        betas=ladder[0] if tempered else None,
        adapt_betas=ladder[1] if tempered else False,
        reference=reference if tempered else None,
        sweep_posterior=bool(sweep_posterior) and tempered,
        dense_mass=tempered
        and not sweep_posterior
        and adapt_mass_matrix is not False
        and dense_by_default(layout.dim),
    )
