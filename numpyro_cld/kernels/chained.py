"""Chained Langevin dynamics (Cheng, Fu, Farnia) as a NumPyro kernel: resolves the patches
and the prefix source from the model and binds :func:`numpyro_cld.samplers.chained`."""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpyro.infer.initialization import init_to_uniform

from ..checks import (
    adapt_if_adjusted,
    flag,
    one_of,
    open_unit,
    positive_float,
    positive_int,
    renamed,
)
from ..samplers.chained import chained
from ..samplers.state import LangevinState
from ..samplers.tempering import TemperedAdaptState
from ..schedules import check_sigmas
from ..sources.model_prefix import model_prefix
from ..sources.prefix import PotentialPrefix
from ..sources.protocol import PrefixSource
from .base import LangevinBase
from .chained_plan import ChainedPlan, chained_plan
from .chained_setup import check_adaptation_and_patches, check_prefix_args
from .tempered import (
    ladder_arg,
    mala_local,
    pilot_or_none,
    progress_line,
    refresh_tempered,
    tempered_path,
    tempered_sampler,
)

CONDITIONALS = ("auto", "prefix", "full", "tempered")
ORDERS = ("sequential", "random")


class ChainedState(LangevinState):
    """:class:`~numpyro_cld.samplers.LangevinState` of :class:`ChainedLangevin`; its
    ``adapt_state`` is a :class:`~numpyro_cld.blocks.PatchAdaptState`."""

    __slots__ = ()

    @property
    def step_scale(self):
        """Shortcut for ``adapt_state.step_scale``: the per-patch step-size multipliers."""
        return self.adapt_state.step_scale


class ChainedLangevin(LangevinBase):
    r"""Chained Langevin dynamics: one transition is a sweep over patches of the latent vector.

    Pass a NumPyro ``model`` (or a ``potential_fn`` with ``init_params``); every other
    argument has a measured default, and ``kernel.plan`` says what runs, chosen at ``init``::

        mcmc = MCMC(ChainedLangevin(model), num_warmup=500, num_samples=1000, num_chains=4)

    - exact prefix conditionals (a Gaussian or Gaussian-mixture site, a ``prefix_source``
      or ``prefix_potential``): the paper's sweep over patches of ``patch_size`` coordinates
      (default 1), annealed where the smoothing is exact (``sigmas="auto"``);
    - any other density (a model with data, enumerated discrete sites, an improper prior with
      ``numpyro.factor``, a ``potential_fn``): the tempered route, replica exchange from the
      prior or a Gaussian fitted in warmup with MALA at every power, about 37 gradients a
      transition; it finds modes a start missed and gives the log evidence (said once per
      process on the ``numpyro_cld`` logger);
    - a ``score_fn`` alone: the full sweep, with a warning (it does not find modes).

    The details:

    The latent vector (unconstrained, in *site order*: the model's sample statements in
    order, each site raveled; for ``potential_fn``/``score_fn`` the raveled ``init_params``)
    is split into ``ceil(d / patch_size)`` patches of ``patch_size`` coordinates; the last
    patch is smaller when ``patch_size`` does not divide ``d``. ``patches`` gives explicit
    patches instead. Patch ``i`` gets ``steps_per_patch`` Langevin steps (the update of
    :func:`numpyro_cld.blocks.langevin_step`), or, with ``sigmas``, ``steps_per_patch`` steps at
    each noise level ``sigma_1 > ... > sigma_L`` (the paper's Chained-ALD), the noise smoothing
    the current patch only. By default (``sigmas="auto"``) a model whose smoothed prefix
    conditionals are exact is annealed, from ``sigma_1`` about the largest distance between
    modes within a patch (Song & Ermon 2020) down to ``0``: each sweep then re-draws every
    patch from a level where its modes are connected, which is what makes the mode
    frequencies right from a start in one mode (``docs/defaults.md``).

    ``conditional="prefix"`` (the paper's Chained-LD) moves patch ``i`` with the score of
    ``p(x_i | x_<i)``, later patches integrated out. If each patch reaches its conditional,
    a sweep returns an exact draw of ``p`` whatever it started from, so it is what finds
    modes; with finitely many steps per patch the sweep is approximate (ULA bias, and
    incomplete mixing within the patch; ``adjust=True`` removes the first only). Prefix
    conditionals come from ``prefix_source`` (any :class:`numpyro_cld.sources.PrefixSource`,
    e.g. a learned autoregressive network), from ``prefix_potential``, or straight from the
    model when they are exact (see :mod:`numpyro_cld.sources.model_prefix`).

    ``conditional="full"`` moves patch ``i`` with the score of ``p(x_i | x_-i) ∝ p(x)``. With
    ``adjust=True`` each step is a MALA step on the conditional: Metropolis-within-Gibbs,
    exactly invariant for any model (observed sites included). It is as mode-seeking as
    vanilla Langevin (``docs/chained.md`` gives the figures). ``"auto"`` falls back to it
    only where neither exact prefix conditionals nor a density exist, with a warning.

    ``conditional="tempered"`` is for targets whose modes the sweeps cannot leave: replica
    exchange over ``p_b ~ q^(1 - b) pi^b`` (``betas``) from a reference ``q`` drawn exactly:
    the prior of a model with data (the likelihood tempered; enumerated discrete sites summed
    out), else a Gaussian fitted in warmup (an improper prior, a model without data, a
    ``potential_fn``). The replicas of powers in ``(0, 1)`` move by two whole-vector MALA
    steps of their own law, the posterior replica by six (``sweep_posterior=True``: the patch
    sweep at ``b = 1``), neighbouring replicas swap by
    Metropolis-Hastings with the non-reversible even/odd schedule (Syed et al. 2022), and
    the ladder is adapted in warmup to equal swap rates. Exact, and it finds modes of the
    target from a start in one of them (``docs/posteriors.md``);
    :func:`numpyro_cld.diagnostics.log_evidence` reads the log evidence off the run.
    ``"auto"`` takes this route wherever there are no exact prefix conditionals and the
    target has a density. ``state.adapt_state`` is then a
    :class:`~numpyro_cld.samplers.tempering.TemperedAdaptState`
    (``extra_fields=("adapt_state.jumped",)`` records the mode-jump swaps).

    **References:**

    1. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia
    2. *Generative Modeling by Estimating Gradients of the Data Distribution*, Y. Song,
       S. Ermon (2019)
    3. *Non-reversible parallel tempering: a scalable highly parallel MCMC scheme*, S. Syed,
       A. Bouchard-Cote, G. Deligiannidis, A. Doucet (2022)

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: ``z -> grad log p(z)`` (no density; ULA only).
    :param prefix_source: a prefix source (``init_context``, ``advance``,
        ``potential_and_score``, ``has_density``) over the same coordinates and patches.
    :param prefix_potential: ``f(x, n) = -log p(x_{<n})`` on the flat latent vector in site
        order; coordinates from ``n`` on must not change the value.
    :param int patch_size: coordinates per patch (default 1). On the tempered route the
        patches are swept only with ``sweep_posterior=True`` (``kernel.plan`` says so).
    :param str conditional: ``"auto"``, ``"prefix"``, ``"full"`` or ``"tempered"``.
    :param int steps_per_patch: Langevin steps per patch (per noise level with ``sigmas``, so
        a sweep costs ``patches x levels x steps_per_patch`` patch gradients). Default 20, or
        10 per level when the sweep is annealed (400 steps a patch with ``"auto"``'s 40
        levels: the measured cost of mode frequencies within 0.03 of the weights).
    :param float step_size: ``eta`` (at the last level with ``sigmas``); default 0.1, or 2e-5
        with explicit positive ``sigmas`` (the paper's NCSN setting, ``eta_l = step_size
        sigma_l^2 / sigma_L^2``). With a last level ``0`` (as ``"auto"`` builds) the initial
        step of level ``l`` is ``step_size + sigma_l^2 / 2``.
    :param sigmas: decreasing noise levels for Chained-ALD (prefix sweep only; the last may be
        ``0``, the unsmoothed conditional); each patch and level adapts its own step size.
        ``"auto"`` (default): where the smoothed prefix conditionals are exact in closed form
        (a Gaussian or Gaussian-mixture site), 40 levels from the largest distance between
        256 draws of the model within one patch down to 1e-3 of it, then 0
        (:func:`numpyro_cld.schedules.chained_sigmas`); elsewhere no annealing. ``None``: no
        annealing (``steps_per_patch`` steps at the target itself).
    :param betas: powers of ``conditional="tempered"``: an int ``n`` (default 8) for ``n``
        powers geometric from 1e-3 to 1, re-spaced in a warmup of at least 40 transitions to
        equal swap rates; ``"auto"`` for ``2 Lambda + 1`` powers from the communication
        barrier ``Lambda`` that a 100-transition pilot of one chain estimates
        (:func:`~numpyro_cld.kernels.tempered.sized_ladder`, shown in ``kernel.plan``); or an
        increasing sequence in ``(0, 1]`` ending at 1, used as given.
    :param bool sweep_posterior: on the tempered route, move the posterior replica by the
        patch sweep instead of MALA (default False: on a generic model a patch step costs a
        whole gradient, so a sweep costs ``patches x steps_per_patch`` gradients against
        six for MALA, for no mode-finding; worth it where the patches' conditionals are
        cheap or much better conditioned).
    :param bool adjust: Metropolis-Hastings test for each patch step (MALA). Default:
        ``True`` when the target (and the prefix source) has a density, else ``False``.
    :param str order: ``"sequential"`` or ``"random"`` (a fresh patch order every sweep;
        full sweep only, since the prefix sweep needs the coordinate order).
    :param patches: explicit patches: a list of site names or of integer index groups (site
        order) covering every coordinate exactly once; for the prefix sweep they must be
        consecutive ranges in order.
    :param bool adapt_step_size: per-patch dual averaging of the step size to
        ``target_accept_prob`` during warmup. Default: with ``adjust``; ``True`` without
        ``adjust`` raises (ULA has no acceptance rate to adapt to).
    :param adapt_mass_matrix: estimate a diagonal mass matrix in warmup (from the sweeps of
        NumPyro's middle adaptation windows, as NUTS does); each patch is preconditioned by
        its coordinates' part. Default: with ``adapt_step_size`` for the full sweep (see
        :func:`~numpyro_cld.samplers.chained` for why not for the prefix sweep); never with
        ``sigmas``, whose smoothed levels differ in scale and adapt per level instead.
    :param float target_accept_prob: target of the adaptation.
    :param init_strategy: NumPyro per-site initialisation strategy.
    :param eps: former name of ``step_size`` (deprecated, ``FutureWarning``).
    :param blocks: former name of ``patches`` (deprecated, ``FutureWarning``).

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import ChainedLangevin
        >>> def model():  # two modes 2 sqrt(20) = 9 standard deviations apart
        ...     mix = dist.Categorical(probs=jnp.array([0.5, 0.5]))
        ...     comp = dist.Normal(jnp.array([[-1.0] * 20, [1.0] * 20]), 1.0).to_event(1)
        ...     numpyro.sample("x", dist.MixtureSameFamily(mix, comp))
        >>> mcmc = MCMC(ChainedLangevin(model, patch_size=2), num_warmup=50,
        ...             num_samples=200, progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> frac = float((mcmc.get_samples()["x"].mean(-1) > 0).mean())
        >>> 0.3 < frac < 0.7
        True
    """

    state_type = ChainedState

    def __init__(
        self,
        model: Callable | None = None,
        *,
        potential_fn: Callable | None = None,
        score_fn: Callable | None = None,
        prefix_source: PrefixSource | None = None,
        prefix_potential: Callable | None = None,
        patch_size: int = 1,
        conditional: str = "auto",
        steps_per_patch: int | None = None,
        step_size: float | None = None,
        sigmas: Any = "auto",
        betas: Any = 8,
        sweep_posterior: bool = False,
        adjust: bool | None = None,
        order: str = "sequential",
        patches: Sequence | None = None,
        adapt_step_size: bool | None = None,
        adapt_mass_matrix: bool | None = None,
        target_accept_prob: float = 0.574,
        init_strategy: Callable = init_to_uniform,
        eps: float | None = None,
        blocks: Sequence | None = None,
    ):
        super().__init__(
            model, potential_fn=potential_fn, score_fn=score_fn, init_strategy=init_strategy
        )
        self._patch_size = positive_int("patch_size", patch_size)
        self._conditional = one_of("conditional", conditional, CONDITIONALS)
        self._order = one_of("order", order, ORDERS)
        self._steps_per_patch_arg = (
            None if steps_per_patch is None else positive_int("steps_per_patch", steps_per_patch)
        )
        self._steps_per_patch = self._steps_per_patch_arg or 20
        self._auto_sigmas = isinstance(sigmas, str) and sigmas == "auto"
        if isinstance(sigmas, str) and not self._auto_sigmas:
            raise ValueError(
                f"`sigmas` must be 'auto', None or a sequence of levels, got {sigmas!r}."
            )
        explicit = sigmas is not None and not self._auto_sigmas
        self._sigmas = check_sigmas(sigmas, allow_zero_last=True) if explicit else None
        step_size = renamed("step_size", step_size, "eps", eps)
        if step_size is None:  # the paper's NCSN eps with its rule eta_l ∝ sigma_l^2 / sigma_L^2
            explicit = self._sigmas is not None and float(np.asarray(self._sigmas)[-1]) > 0
            step_size = 2e-5 if explicit else 0.1
        self._step_size = positive_float("step_size", step_size)
        if adjust is None:  # exact wherever there is a density
            adjust = score_fn is None and getattr(prefix_source, "has_density", True)
        self._adjust = flag("adjust", adjust)
        self._adapt_step_size = adapt_if_adjusted(adapt_step_size, self._adjust)
        patches = renamed("patches", patches, "blocks", blocks)
        check_adaptation_and_patches(
            adapt_mass_matrix,
            adapt_step_size=self._adapt_step_size,
            explicit_sigmas=sigmas is not None and not self._auto_sigmas,
            patches=patches,
        )
        self._adapt_mass_matrix = adapt_mass_matrix
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
        check_prefix_args(
            self._conditional,
            self._order,
            None if self._auto_sigmas else self._sigmas,
            self._adjust,
            score_fn,
            prefix_source,
            prefix_potential,
        )
        self._ladder, self._sized_ladder = ladder_arg(betas)
        self._sweep_posterior = flag("sweep_posterior", sweep_posterior)
        self._prefix_source = prefix_source
        self._prefix_potential = prefix_potential
        self._patches = patches
        self._plan: ChainedPlan | None = None

    def _resolve(self, model_args, model_kwargs, one_params):
        """The plan for this model and these arguments, from the kernel's one trace."""
        self._plan = chained_plan(
            self._site_trace,
            one_params,
            model=self._model,
            model_args=model_args,
            model_kwargs=model_kwargs,
            conditional=self._conditional,
            patch_size=self._patch_size,
            patches=self._patches,
            order=self._order,
            sigmas=None if self._auto_sigmas else self._sigmas,
            auto_sigmas=self._auto_sigmas,
            step_size=self._step_size,
            steps_per_patch=self._steps_per_patch_arg,
            adapt_mass_matrix=self._adapt_mass_matrix,
            ladder=self._ladder,
            has_density=self.has_density,
            sweep_posterior=self._sweep_posterior,
            prefix_source=self._prefix_source,
            prefix_potential=self._prefix_potential,
        )
        if self._plan.route == "tempered" and self._sized_ladder:
            path = tempered_path(self, self._plan.reference, model_args, model_kwargs)
            pilot = pilot_or_none(self, path, self._local_for, one_params, self._plan.hot_steps)
            if pilot is not None:
                self._plan = dataclasses.replace(
                    self._plan, betas=pilot[0], barrier=pilot[1], pilot_gradients=pilot[2]
                )

    def _fixed_step_size(self):
        plan = self._plan
        if plan is None or plan.route == "tempered":  # the tempered route's MALA adapts
            return None
        if self._adapt_step_size and self._num_warmup > 0:
            return None
        if plan.sigmas is None:
            return plan.step_size, 1.0
        if plan.step_sizes is not None:
            return float(np.max(plan.step_sizes)), 1.0
        sigmas = np.asarray(plan.sigmas, np.float64)
        return plan.step_size * float(np.max(sigmas) ** 2 / sigmas[-1] ** 2), 1.0

    def __repr__(self) -> str:
        plan = "plan resolved at init" if self._plan is None else str(self._plan)
        return (
            f"ChainedLangevin(patch_size={self._patch_size}, conditional="
            f"{self._conditional!r}) <{plan}>"
        )

    @property
    def plan(self) -> ChainedPlan | None:
        """What the kernel runs on the model of its last ``init`` (:class:`ChainedPlan`;
        ``print(kernel.plan)`` says it in one line), None before."""
        return self._plan

    @property
    def conditional(self) -> str | None:
        """The route in use (``"prefix"``, ``"full"`` or ``"tempered"``), known after
        ``init`` (``plan.route``)."""
        return None if self._plan is None else self._plan.route

    @property
    def num_patches(self) -> int | None:
        return None if self._plan is None else self._plan.layout.num_patches

    def get_diagnostics_str(self, state):
        if isinstance(state.adapt_state, TemperedAdaptState):
            return progress_line(state)
        scale = np.mean(state.adapt_state.step_scale)
        return f"mean step scale {scale:.2e}. acc. prob={state.mean_accept_prob:.2f}"

    def refresh(self, state, model_args, model_kwargs):
        if isinstance(state.adapt_state, TemperedAdaptState):  # the tempered route's own
            return refresh_tempered(self, self._plan.reference, state, model_args, model_kwargs)
        return super().refresh(state, model_args, model_kwargs)

    def _sampler(self, model_args, model_kwargs):
        plan = self._plan
        if plan.route == "tempered":
            local = self._local_for(self._num_warmup)
            return tempered_sampler(
                tempered_path(self, plan.reference, model_args, model_kwargs),
                local,
                (plan.betas, plan.adapt_betas),
                make_target=(lambda f: self._chained(f, None))
                if plan.sweep_posterior
                else mala_local(
                    self, plan.step_size, plan.target_steps, self._num_warmup, plan.dense_mass
                ),
                num_warmup=self._num_warmup,
            )
        prefix = self._prefix(model_args, model_kwargs) if plan.route == "prefix" else None
        return self._chained(self._target(model_args, model_kwargs), prefix)

    def _local_for(self, num_warmup):
        """Builder of the tempered route's local sampler: MALA at every power."""
        return mala_local(self, self._plan.step_size, self._plan.hot_steps, num_warmup)

    def _prefix(self, model_args, model_kwargs):
        kind, starts = self._plan.prefix_kind, self._plan.layout.starts
        if kind == "user":
            return self._prefix_source
        if kind == "potential":
            return PotentialPrefix(self._prefix_potential, self._plan.layout.dim, starts=starts)
        same = self._is_init_args(model_args, model_kwargs)
        tr = self._site_trace if same else None
        return model_prefix(self._model, model_args, model_kwargs, starts=starts, trace_=tr)[0]

    def _chained(self, potential_and_score, prefix):
        plan = self._plan
        return chained(
            plan.layout,
            potential_and_score,
            prefix_source=prefix,
            step_size=plan.step_size,
            sigmas=plan.sigmas,
            step_sizes=plan.step_sizes,
            steps_per_patch=plan.steps_per_patch,
            adjust=self._adjust,
            order=self._order,
            num_warmup=self._num_warmup,
            adapt_step_size=self._adapt_step_size,
            adapt_mass_matrix=plan.adapt_mass_matrix,
            target_accept_prob=self._target_accept_prob,
        )
