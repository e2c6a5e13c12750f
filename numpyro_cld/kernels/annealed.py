"""Annealed Langevin dynamics (NCSN, diffusion and tempered paths) as a NumPyro kernel."""

import inspect
from typing import Any, NamedTuple

import jax.numpy as jnp
from jax import lax, random
from jax.flatten_util import ravel_pytree

from numpyro.infer.initialization import init_to_uniform

from .._validate import one_of, positive_float, positive_int
from ..schedules import (PATHS, GaussianBase, as_base, check_lambdas, check_sigmas,
                         ncsn_sigmas, ncsn_step_sizes, vp_lambdas)
from ..smoothing import (SMOOTHING_OPTIONS, exact_level_source, exact_smoothing_problems,
                         mc_level_source, score_fn_level_source, tempered_level_source)
from ..step import StepState, langevin_steps
from .base import LangevinBase

DEFAULT_EPS = {"ve": 2e-5, "vp": 1e-2, "tempered": 1e-2}


class AnnealedLangevinState(NamedTuple):
    """State of :class:`AnnealedLangevin`.

    - **i** - iteration; reset to 0 after warmup.
    - **z** - latent values (unconstrained) at the end of the sweep, i.e. after the last level.
    - **potential_energy** - ``U`` of the last level at ``z`` (0 for a ``score_fn``; a noisy
      estimate with ``smoothing='mc'``).
    - **z_grad** - gradient of that potential (minus the last level's score), shaped like ``z``.
    - **accept_prob** - mean Metropolis acceptance probability over all ``L * steps_per_level``
      steps of the sweep (1 for ULA, 0 for a step with a numerical fault).
    - **mean_accept_prob** - running mean of ``accept_prob`` over warmup or sampling.
    - **diverging** - whether any step of the sweep met a non-finite position, potential or
      score (that proposal was not taken).
    - **num_diverging** - how many steps of the sweep were faults.
    - **level_z** - with ``store_levels=True``, the flat position at the end of each level,
      shape ``(L, d)``; otherwise ``None``.
    - **rng_key** - PRNG key for the next transition.
    """

    i: Any
    z: Any
    potential_energy: Any
    z_grad: Any
    accept_prob: Any
    mean_accept_prob: Any
    diverging: Any
    num_diverging: Any
    level_z: Any
    rng_key: Any


class _AtLevel:
    """``z -> score_fn(z, level)``: the learned score at one level (picklable)."""

    def __init__(self, score_fn, level):
        self.score_fn, self.level = score_fn, level

    def __call__(self, z):
        return self.score_fn(z, self.level)


def _check_two_args(score_fn):
    try:
        sig = inspect.signature(score_fn)
    except (TypeError, ValueError):
        return  # no introspectable signature: the shape check at init calls it
    try:
        sig.bind(None, None)
    except TypeError:
        raise TypeError(
            "`score_fn` must be noise-conditional, `score_fn(x, sigma)` (the level is "
            f"sigma on path 've' and lambda on 'vp'/'tempered'); got signature {sig}."
        ) from None


class AnnealedLangevin(LangevinBase):
    r"""Annealed Langevin dynamics: one MCMC transition is one full annealing sweep.

    The sweep runs ``steps_per_level`` Langevin steps (the shared update
    :func:`numpyro_cld.step.langevin_steps`, ULA or with ``adjust=True`` MALA) on each
    level ``p_1, ..., p_L`` of an annealing path, from the chain's current state (the
    setting of the mode-seeking study: chains initialised in one mode) or, with
    ``start_from_base=True``, from a fresh draw of the path's base distribution (the
    generative setting of NCSN). Levels x steps are two nested ``lax.scan``; the
    potential and score are recomputed at the start of each level. Paths
    (:mod:`numpyro_cld.schedules`):

    - ``"ve"``: ``p_sigma = p * N(0, sigma^2 I)`` for decreasing ``sigmas``, step sizes
      ``eta_i = eps * sigma_i^2 / sigma_L^2``; base ``N(0, sigma_1^2 I)``.
    - ``"vp"``: the law of ``sqrt(lam) X + sqrt(1 - lam) Z``, ``Z ~ base`` (Gaussian or
      Student-t), for increasing ``lambdas``; constant step ``eps``.
    - ``"tempered"``: ``p^lam base^(1 - lam)``; constant step ``eps``.

    Where the level scores come from:

    - ``score_fn(x, level)``: a learned noise-conditional score (no density; ULA only).
    - ``smoothing="exact"``: the model's latent sites (Normal, MultivariateNormal,
      mixtures of those, independent, none observed) are smoothed in closed form by the
      :class:`numpyro_cld.smoothing.smooth` effect handler (ve, and vp with a Gaussian base).
    - ``smoothing="mc"``: self-normalised Monte-Carlo Tweedie smoothing of the potential
      with ``num_mc_samples`` draws per score (any model or ``potential_fn``, any base; the
      only model-based option for the Student-t base). Biased ``O(1/num_mc_samples)``;
      ULA only.
    - ``path="tempered"`` needs only the potential.
    - ``smoothing="auto"`` picks ``"exact"`` when the model allows it and otherwise raises,
      listing these options; it never falls back silently to Monte-Carlo.

    **References:**

    1. *Generative Modeling by Estimating Gradients of the Data Distribution*,
       Y. Song, S. Ermon (2019)
    2. *Non-asymptotic Analysis of Diffusion Annealed Langevin Monte Carlo for Generative
       Modelling*, P. Cordero-Encinar, O. D. Akyildiz, A. B. Duncan (2025)
    3. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: learned ``score_fn(z, level) -> grad log p_level(z)``.
    :param sigmas: strictly decreasing positive noise levels (path ``"ve"``); default
        :func:`~numpyro_cld.schedules.ncsn_sigmas` ``(1, 0.01, 10)``.
    :param lambdas: strictly increasing levels in ``(0, 1]`` (``[0, 1]`` for
        ``"tempered"``); default :func:`~numpyro_cld.schedules.vp_lambdas` ``(10)``.
    :param int steps_per_level: Langevin steps per level.
    :param float eps: step-size scale; default 2e-5 for ``"ve"`` (NCSN), 1e-2 otherwise.
    :param str path: ``"ve"``, ``"vp"`` or ``"tempered"``.
    :param base: base of ``"vp"`` / ``"tempered"``: ``"gaussian"``,
        ``("student_t", alpha[, scale])`` with ``alpha > 2``, or a base object.
    :param str smoothing: ``"auto"``, ``"exact"`` or ``"mc"``.
    :param int num_mc_samples: draws per score evaluation with ``smoothing="mc"``.
    :param bool adjust: Metropolis-adjust each step (needs an exact density per level).
    :param bool start_from_base: start every sweep from a draw of the base.
    :param bool store_levels: keep the position at the end of each level in ``level_z``.
    :param init_strategy: NumPyro per-site initialisation strategy.

    **Example**

    .. doctest::

        >>> import jax
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import AnnealedLangevin
        >>> from numpyro_cld.schedules import ncsn_sigmas
        >>> from numpyro_cld.targets import song_ermon_toy
        >>> target = song_ermon_toy()
        >>> kernel = AnnealedLangevin(target.model, sigmas=ncsn_sigmas(20.0, 1.0, 10),
        ...                           steps_per_level=100, eps=0.05)
        >>> mcmc = MCMC(kernel, num_warmup=0, num_samples=1, num_chains=256,
        ...             chain_method="vectorized", progress_bar=False)
        >>> mcmc.run(jax.random.key(0), init_params=target.init_params(jax.random.key(1), 256))
        >>> frac = float((target.assign(mcmc.get_samples()["x"]) == 1).mean())
        >>> 0.6 < frac < 0.95
        True
    """

    def __init__(self, model=None, *, potential_fn=None, score_fn=None, sigmas=None,
                 lambdas=None, steps_per_level=100, eps=None, path="ve", base="gaussian",
                 smoothing="auto", num_mc_samples=64, adjust=False, start_from_base=False,
                 store_levels=False, init_strategy=init_to_uniform):
        self._path = one_of("path", path, set(PATHS))
        if path == "ve":
            if lambdas is not None:
                raise ValueError(
                    "`lambdas` is for paths 'vp'/'tempered'; path 've' takes `sigmas`.")
            self._levels = ncsn_sigmas() if sigmas is None else check_sigmas(sigmas)
            if not (isinstance(base, str) and base == "gaussian"):
                raise ValueError(
                    "`base` applies to paths 'vp'/'tempered'; path 've' adds Gaussian noise.")
        else:
            if sigmas is not None:
                raise ValueError(f"`sigmas` is for path 've'; path {path!r} takes `lambdas`.")
            self._levels = (vp_lambdas() if lambdas is None
                            else check_lambdas(lambdas, allow_zero=path == "tempered"))
        self._base = as_base(base)
        self._steps_per_level = positive_int("steps_per_level", steps_per_level)
        self._eps = positive_float("eps", DEFAULT_EPS[path] if eps is None else eps)
        self._step_sizes = (ncsn_step_sizes(self._eps, self._levels) if path == "ve"
                            else jnp.full(self._levels.shape, self._eps))
        self._num_mc_samples = positive_int("num_mc_samples", num_mc_samples)
        self._adjust = bool(adjust)
        self._start_from_base = bool(start_from_base)
        self._store_levels = bool(store_levels)
        smoothing = one_of("smoothing", smoothing, {"auto", "exact", "mc"})

        if score_fn is not None:
            if not callable(score_fn):
                raise TypeError(f"`score_fn` must be callable, got {type(score_fn).__name__}.")
            _check_two_args(score_fn)
            self._level_score_fn = score_fn
            score_fn = _AtLevel(score_fn, self._levels[-1])
            mode = "score_fn"
            if smoothing != "auto":
                raise ValueError(f"`smoothing={smoothing!r}` needs `model` or `potential_fn`; "
                                 "a `score_fn` already gives the score at every level.")
        elif path == "tempered":
            mode = "tempered"
            if smoothing != "auto":
                raise ValueError(f"`smoothing={smoothing!r}` applies to paths 've'/'vp'; "
                                 "path 'tempered' uses the potential itself.")
        elif smoothing == "mc":
            mode = "mc"
        elif model is None:
            raise ValueError(
                f"`smoothing={smoothing!r}` cannot smooth a `potential_fn` exactly (that needs "
                f"a model of Gaussian sites); choose {SMOOTHING_OPTIONS}.")
        elif path == "vp" and not isinstance(self._base, GaussianBase):
            raise ValueError(
                f"`smoothing={smoothing!r}`: no exact smoothing on the vp path with "
                f"{self._base!r} (a Student-t base has no closed-form convolution with a "
                f"Gaussian); choose {SMOOTHING_OPTIONS}.")
        else:
            mode = "exact"  # confirmed against the model at init
        self._mode = mode
        if self._adjust and mode in ("score_fn", "mc"):
            origin = "`score_fn`" if mode == "score_fn" else "Monte-Carlo smoothing"
            raise ValueError(
                "`adjust=True` needs an exact density at every level for the Metropolis test, "
                f"but the scores come from {origin}; use adjust=False (ULA), exact smoothing "
                "or path='tempered'.")
        super().__init__(model, potential_fn=potential_fn, score_fn=score_fn,
                         init_strategy=init_strategy)

    @property
    def levels(self):
        """The levels of the path (sigmas or lambdas), in sweep order."""
        return self._levels

    @property
    def step_sizes(self):
        """The Langevin step size ``eta_i`` of each level."""
        return self._step_sizes

    def get_diagnostics_str(self, state):
        return "acc. prob={:.2f}".format(state.mean_accept_prob)

    # -- sources ------------------------------------------------------------------------
    def _initial_params(self, key, init_params, model_args, model_kwargs, vectorized):
        params = super()._initial_params(key, init_params, model_args, model_kwargs, vectorized)
        if self._mode == "exact":
            problems = exact_smoothing_problems(self._model, model_args, model_kwargs,
                                                self._path, self._base)
            if problems:
                raise ValueError(
                    f"Exact smoothing (path={self._path!r}) is not possible for this model: "
                    + "; ".join(problems) + ". Exact smoothing needs independent latent "
                    "Normal / MultivariateNormal sites or MixtureSameFamily / MixtureGeneral "
                    f"of those. Instead choose {SMOOTHING_OPTIONS}.")
        return params

    def _level_source(self, model_args, model_kwargs):
        """``f(x_flat, level, key) -> (U_level, s_level)``."""
        if self._mode == "score_fn":
            return score_fn_level_source(self._level_score_fn, self._unravel_fn)
        if self._mode == "exact":
            return exact_level_source(self._model, model_args, model_kwargs, self._path,
                                      self._base, self._unravel_fn)
        potential = self._potential(model_args, model_kwargs)

        def flat_potential(x):
            return potential(self._unravel_fn(x))

        if self._mode == "mc":
            return mc_level_source(flat_potential, self._path, self._base,
                                   self._num_mc_samples)
        return tempered_level_source(flat_potential, self._base)

    def _source(self, model_args, model_kwargs):
        level_source = self._level_source(model_args, model_kwargs)
        last = self._levels[-1]
        return lambda x, rng_key: level_source(x, last, rng_key)

    def _base_draw(self, rng_key, x):
        if self._path == "ve":
            return self._levels[0] * random.normal(rng_key, x.shape, x.dtype)
        return self._base.sample(rng_key, x.shape, x.dtype)

    # -- one chain ----------------------------------------------------------------------
    def _init_one(self, rng_key, init_params, model_args, model_kwargs):
        rng_key, key_score = random.split(rng_key)
        x = ravel_pytree(init_params)[0]
        pe, score = self._source(model_args, model_kwargs)(x, key_score)
        zero = jnp.zeros((), jnp.result_type(x))
        level_z = (jnp.zeros(self._levels.shape + x.shape, x.dtype)
                   if self._store_levels else None)
        return AnnealedLangevinState(
            jnp.array(0), init_params, pe, self._unravel_fn(-score), zero, zero,
            jnp.array(False), jnp.array(0, jnp.int32), level_z, rng_key)

    def _sample_one(self, state, model_args, model_kwargs):
        level_source = self._level_source(model_args, model_kwargs)
        rng_key, key_start, key_sweep = random.split(state.rng_key, 3)
        x = ravel_pytree(state.z)[0]
        if self._start_from_base:
            x = self._base_draw(key_start, x)
        num_levels = self._levels.shape[0]

        def level_body(st, inputs):
            level, step_size, key = inputs
            key_score, key_steps = random.split(key)

            def source(y, k):
                return level_source(y, level, k)

            pe, score = source(st.x, key_score)  # the level changed: recompute
            new, info = langevin_steps(key_steps, StepState(st.x, pe, score), source,
                                       step_size, 1.0, adjust=self._adjust,
                                       num_steps=self._steps_per_level)
            return new, (info, new.x if self._store_levels else None)

        # the carry's potential and score are recomputed at every level; zeros stand in
        init = StepState(x, jnp.zeros((), x.dtype), jnp.zeros_like(x))
        last, (infos, level_z) = lax.scan(
            level_body, init,
            (self._levels.astype(x.dtype), self._step_sizes.astype(x.dtype),
             random.split(key_sweep, num_levels)))
        accept_prob = jnp.mean(infos.accept_prob)
        return AnnealedLangevinState(
            state.i + 1, self._unravel_fn(last.x), last.potential_energy,
            self._unravel_fn(-last.score), accept_prob, self._mean_accept_prob(state, accept_prob),
            jnp.any(infos.diverging), jnp.sum(infos.num_diverging, dtype=jnp.int32), level_z,
            rng_key)
