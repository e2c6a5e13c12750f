"""Annealed Langevin dynamics (NCSN, diffusion and tempered paths) as a NumPyro kernel."""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from numpyro.infer.initialization import init_to_uniform

from ..checks import flag, one_of, positive_float, positive_int, renamed
from ..notes import say_once
from ..samplers.annealed import annealed
from ..samplers.state import LangevinState
from ..schedules import (
    PATHS,
    GaussianBase,
    as_base,
    base_draw,
    path_step_sizes,
)
from ..sources import levels as level_sources
from ..sources.protocol import Source, at_level
from ..sources.smoothing import SMOOTHING_OPTIONS, exact_smoothing_problems
from .annealed_setup import auto_sigmas, path_levels
from .base import LangevinBase

DEFAULT_STEP_SIZE = {"ve": 2e-5, "vp": 1e-2, "tempered": 1e-2}


class AnnealedLangevinState(LangevinState):
    """:class:`~numpyro_cld.samplers.LangevinState` of :class:`AnnealedLangevin`; its
    ``adapt_state`` is an :class:`~numpyro_cld.samplers.AnnealedAdaptState`."""

    __slots__ = ()

    @property
    def level_z(self):
        """Shortcut for ``adapt_state.level_z`` (usable in ``extra_fields``)."""
        return self.adapt_state.level_z


class AnnealedLangevin(LangevinBase):
    r"""Annealed Langevin dynamics: one MCMC transition is one full annealing sweep.

    The sweep runs ``steps_per_level`` Langevin steps (the shared update
    :func:`numpyro_cld.blocks.langevin_steps`, ULA or with ``adjust=True`` MALA) on each
    level ``p_1, ..., p_L`` of an annealing path, from the chain's current state (the
    setting of the mode-seeking study: chains initialised in one mode) or, with
    ``start_from_base=True``, from a fresh draw of the path's base distribution (the
    generative setting of NCSN). Levels x steps are two nested ``lax.scan``; the
    potential and score are recomputed at the start of each level. Paths
    (:mod:`numpyro_cld.schedules`):

    - ``"ve"``: ``p_sigma = p * N(0, sigma^2 I)`` for decreasing ``sigmas``, step sizes
      ``eta_i = step_size * sigma_i^2 / sigma_L^2`` (NCSN's ``epsilon``); base
      ``N(0, sigma_1^2 I)``.
    - ``"vp"``: the law of ``sqrt(lam) X + sqrt(1 - lam) Z``, ``Z ~ base`` (Gaussian or
      Student-t), for increasing ``lambdas``; constant step ``step_size``.
    - ``"tempered"``: ``p^lam base^(1 - lam)``; constant step ``step_size``.

    Where the level scores come from:

    - ``score_fn(x, level)``: a learned noise-conditional score (no density; ULA only).
    - ``smoothing="exact"``: the model's latent sites (Normal, MultivariateNormal,
      mixtures of those, independent, none observed) are smoothed in closed form by the
      :class:`numpyro_cld.sources.smooth` effect handler (ve, and vp with a Gaussian base).
    - ``smoothing="mc"``: self-normalised Monte-Carlo Tweedie smoothing of the potential
      with ``num_mc_samples`` draws per score (any model or ``potential_fn``, any base; the
      only model-based option for the Student-t base). Biased ``O(1/num_mc_samples)``;
      ULA only.
    - ``path="tempered"`` needs only the potential.
    - ``smoothing="auto"`` picks ``"exact"`` when the model allows it. Where it does not (a
      model with observed data, a constrained or non-Gaussian site) and ``path``, ``sigmas``
      and ``lambdas`` were left at their defaults, the kernel runs ``path="tempered"``
      (exact, from the potential, one gradient a step) and says so once on the
      ``numpyro_cld`` logger; with ``path`` or the levels given it raises, listing these
      options. It never falls back to Monte-Carlo smoothing, which is biased.

    **References:**

    1. *Generative Modeling by Estimating Gradients of the Data Distribution*,
       Y. Song, S. Ermon (2019)
    2. *Non-asymptotic Analysis of Diffusion Annealed Langevin Monte Carlo for Generative
       Modelling*, P. Cordero-Encinar, O. D. Akyildiz, A. B. Duncan (2025)
    3. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: learned ``score_fn(z, level) -> grad log p_level(z)``.
    :param sigmas: strictly decreasing positive noise levels (path ``"ve"``). ``"auto"`` (or
        ``None``, the default) on a model: from 256 draws of the model's latent sites
        (unconstrained; the prior when sites are observed),
        :func:`~numpyro_cld.schedules.annealed_sigmas`: ``sigma_1`` the largest distance
        between two draws, a geometric ratio from the dimension and ``sigma_L = 0.01``, at
        least 10 levels (Song & Ermon 2020, techniques 1 and 2). With a ``score_fn`` of
        :func:`~numpyro_cld.nets.as_score_fn` it is the network's trained levels (and given
        ``sigmas`` must be among them). Otherwise without a model (or with another
        ``score_fn``, whose network fixes its levels) it is the paper's
        :func:`~numpyro_cld.schedules.ncsn_sigmas` ``(1, 0.01, 10)``, which is also what to
        pass for the paper's setting (``sigma_1 = 1``, which leaves far modes unexplored).
    :param lambdas: strictly increasing levels in ``(0, 1]`` (``[0, 1]`` for
        ``"tempered"``); default :func:`~numpyro_cld.schedules.vp_lambdas` ``(10)``.
    :param int steps_per_level: Langevin steps per level.
    :param float step_size: Langevin step size ``eta`` at the last level (the target's);
        default 2e-5 for ``"ve"`` (NCSN), 1e-2 otherwise.
    :param str path: ``"ve"``, ``"vp"`` or ``"tempered"``; default ``"ve"``, or
        ``"tempered"`` on a model that exact smoothing cannot treat (see above).
    :param base: base of ``"vp"`` / ``"tempered"``: ``"gaussian"``,
        ``("student_t", alpha[, scale])`` with ``alpha > 2``, or a base object.
    :param str smoothing: ``"auto"``, ``"exact"`` or ``"mc"``.
    :param int num_mc_samples: draws per score evaluation with ``smoothing="mc"``.
    :param bool adjust: Metropolis-adjust each step (needs an exact density per level).
    :param bool start_from_base: start every sweep from a draw of the base.
    :param bool store_levels: keep the position at the end of each level in ``level_z``.
    :param init_strategy: NumPyro per-site initialisation strategy.
    :param eps: former name of ``step_size`` (deprecated, ``FutureWarning``).

    **Example**

    .. doctest::

        >>> import jax
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import AnnealedLangevin
        >>> from numpyro_cld.schedules import ncsn_sigmas
        >>> from numpyro_cld.targets import song_ermon_toy
        >>> target = song_ermon_toy()
        >>> kernel = AnnealedLangevin(target.model, sigmas=ncsn_sigmas(20.0, 1.0, 10),
        ...                           steps_per_level=100, step_size=0.05)
        >>> mcmc = MCMC(kernel, num_warmup=0, num_samples=1, num_chains=256,
        ...             chain_method="vectorized", progress_bar=False)
        >>> mcmc.run(jax.random.key(0), init_params=target.init_params(jax.random.key(1), 256))
        >>> frac = float((target.assign(mcmc.get_samples()["x"]) == 1).mean())
        >>> 0.6 < frac < 0.95
        True
    """

    state_type = AnnealedLangevinState

    def __init__(
        self,
        model: Callable | None = None,
        *,
        potential_fn: Callable | None = None,
        score_fn: Callable | None = None,
        sigmas: Any = "auto",
        lambdas: Any = None,
        steps_per_level: int = 100,
        step_size: float | None = None,
        path: str | None = None,
        base: Any = "gaussian",
        smoothing: str = "auto",
        num_mc_samples: int = 64,
        adjust: bool = False,
        start_from_base: bool = False,
        store_levels: bool = False,
        init_strategy: Callable = init_to_uniform,
        eps: float | None = None,
    ):
        # left out, "ve", unless exact smoothing turns out impossible at init (`_resolve`)
        self._default_path = path is None and lambdas is None
        path = "ve" if path is None else path
        self._path = one_of("path", path, set(PATHS))
        self._levels, self._auto_sigmas = path_levels(path, sigmas, lambdas, base)
        self._base = as_base(base)
        self._steps_per_level = positive_int("steps_per_level", steps_per_level)
        step_size = given_step_size = renamed("step_size", step_size, "eps", eps)
        step_size = positive_float(
            "step_size", DEFAULT_STEP_SIZE[path] if step_size is None else step_size
        )
        self._step_size, self._step_size_given = step_size, given_step_size is not None
        self._step_sizes = path_step_sizes(path, step_size, self._levels)
        self._num_mc_samples = positive_int("num_mc_samples", num_mc_samples)
        self._adjust = flag("adjust", adjust)
        self._start_from_base = flag("start_from_base", start_from_base)
        self._store_levels = flag("store_levels", store_levels)
        smoothing = one_of("smoothing", smoothing, {"auto", "exact", "mc"})

        if score_fn is not None:
            if not callable(score_fn):
                raise TypeError(f"`score_fn` must be callable, got {type(score_fn).__name__}.")
            level_sources.check_noise_conditional(score_fn)
            if self._path == "ve":  # a network's own levels (as_score_fn): used or checked
                self._levels = level_sources.trained_levels(
                    score_fn, self._levels, self._auto_sigmas
                )
                self._step_sizes = path_step_sizes(path, step_size, self._levels)
            self._level_score_fn = score_fn
            score_fn = level_sources.ScoreAtLevel(score_fn, self._levels[-1])
            mode = "score_fn"
            if smoothing != "auto":
                raise ValueError(
                    f"`smoothing={smoothing!r}` needs `model` or `potential_fn`; "
                    "a `score_fn` already gives the score at every level."
                )
        elif path == "tempered":
            mode = "tempered"
            if smoothing != "auto":
                raise ValueError(
                    f"`smoothing={smoothing!r}` applies to paths 've'/'vp'; "
                    "path 'tempered' uses the potential itself."
                )
        elif smoothing == "mc":
            mode = "mc"
        elif model is None:
            raise ValueError(
                f"`smoothing={smoothing!r}` cannot smooth a `potential_fn` exactly (that needs "
                f"a model of Gaussian sites); choose {SMOOTHING_OPTIONS}."
            )
        elif path == "vp" and not isinstance(self._base, GaussianBase):
            raise ValueError(
                f"`smoothing={smoothing!r}`: no exact smoothing on the vp path with "
                f"{self._base!r} (a Student-t base has no closed-form convolution with a "
                f"Gaussian); choose {SMOOTHING_OPTIONS}."
            )
        else:
            mode = "exact"  # confirmed against the model at init
        self._mode = mode
        if self._adjust and mode in ("score_fn", "mc"):
            origin = "`score_fn`" if mode == "score_fn" else "Monte-Carlo smoothing"
            raise ValueError(
                "`adjust=True` needs an exact density at every level for the Metropolis test, "
                f"but the scores come from {origin}; use adjust=False (ULA), exact smoothing "
                "or path='tempered'."
            )
        super().__init__(
            model, potential_fn=potential_fn, score_fn=score_fn, init_strategy=init_strategy
        )

    @property
    def levels(self):
        """The levels of the path (sigmas or lambdas), in sweep order."""
        return self._levels

    @property
    def step_sizes(self):
        """The Langevin step size ``eta_i`` of each level."""
        return self._step_sizes

    def _fixed_step_size(self):
        # no adaptation: the largest step size of the path is the one most likely to move
        if isinstance(self._step_sizes, jax.core.Tracer):  # built inside the user's jit
            return None
        return float(np.max(np.asarray(self._step_sizes, np.float64))), 1.0

    def get_diagnostics_str(self, state):
        return f"acc. prob={state.mean_accept_prob:.2f}"

    # -- sources ------------------------------------------------------------------------
    def _resolve(self, model_args, model_kwargs, one_params):
        """The levels of ``sigmas="auto"`` from the model's draws, and the check that exact
        smoothing applies to this model, once at ``init``."""
        if self._mode == "exact":
            problems = exact_smoothing_problems(
                self._model, model_args, model_kwargs, self._path, self._base
            )
            if problems and self._default_path and self._auto_sigmas:
                self._run_tempered_path("; ".join(problems))
                return
            if problems:
                why = "; ".join(problems)
                raise ValueError(
                    f"Exact smoothing (path={self._path!r}) is not possible for this model: {why}. "
                    "Exact smoothing needs independent latent Normal / MultivariateNormal sites "
                    "or MixtureSameFamily / MixtureGeneral of those. Instead choose "
                    f"{SMOOTHING_OPTIONS}."
                )
        if self._auto_sigmas and self._model is not None and self._mode != "score_fn":
            levels = auto_sigmas(self._model, model_args, model_kwargs or {})
            if levels is not None:
                self._levels = levels
                self._step_sizes = path_step_sizes(self._path, self._step_size, levels)

    def _run_tempered_path(self, why: str) -> None:
        """The defaults on a model exact smoothing cannot treat: the tempered path."""
        self._path, self._mode = "tempered", "tempered"
        self._levels, _ = path_levels("tempered", None, None, self._base)
        if not self._step_size_given:
            self._step_size = DEFAULT_STEP_SIZE["tempered"]
        self._step_sizes = path_step_sizes("tempered", self._step_size, self._levels)
        say_once(
            "annealed:tempered",
            f"AnnealedLangevin: exact smoothing is not possible for this model ({why}); "
            "running path='tempered' (the geometric path p^lam nu^(1-lam) from the base, "
            "exact from the potential, one gradient a step). Pass path='ve' with "
            "smoothing='mc' for noise-smoothed levels (biased, num_mc_samples potentials a "
            "step).",
        )

    def _level_source(self, model_args, model_kwargs) -> Source:
        """``f(x_flat, level, key) -> (U_level, s_level)``."""
        if self._mode == "score_fn":
            return level_sources.score_fn_level_source(self._level_score_fn, self._unravel_fn)
        if self._mode == "exact":
            return level_sources.exact_level_source(
                self._model, model_args, model_kwargs, self._path, self._base, self._unravel_fn
            )
        potential = self._potential(model_args, model_kwargs)

        def flat_potential(x):
            return potential(self._unravel_fn(x))

        if self._mode == "mc":
            return level_sources.mc_level_source(
                flat_potential, self._path, self._base, self._num_mc_samples
            )
        return level_sources.tempered_level_source(flat_potential, self._base)

    def _target(self, model_args, model_kwargs):
        return at_level(self._level_source(model_args, model_kwargs), self._levels[-1])

    def _sampler(self, model_args, model_kwargs):
        return annealed(
            self._level_source(model_args, model_kwargs),
            self._levels,
            self._step_sizes,
            steps_per_level=self._steps_per_level,
            adjust=self._adjust,
            num_warmup=self._num_warmup,
            base_draw=(
                base_draw(self._path, self._levels, self._base) if self._start_from_base else None
            ),
            store_levels=self._store_levels,
        )
