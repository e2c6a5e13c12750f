"""Vanilla Langevin dynamics (ULA) and MALA as a NumPyro kernel."""

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.initialization import init_to_uniform

from ..checks import (
    adapt_if_adjusted,
    flag,
    inverse_mass,
    open_unit,
    positive_float,
    positive_int,
    user_stacklevel,
)
from ..samplers.langevin import langevin
from .base import LangevinBase, traced
from .states import flat_vector


class Langevin(LangevinBase):
    r"""Langevin dynamics: the unadjusted Langevin algorithm (ULA) or, with ``adjust=True``,
    the Metropolis-adjusted Langevin algorithm (MALA).

    One transition runs ``num_steps`` steps of

    .. math::

        z' = z + \eta M \nabla \log p(z) + \sqrt{2\eta}\, M^{1/2} \xi,\qquad \xi\sim N(0, I)

    in a single ``lax.scan`` (no trajectory is stored, so very long runs cost no memory;
    ``num_steps`` thins). ``M`` is the inverse mass matrix. ULA is biased by ``O(eta)``:
    for ``N(0, s^2)`` its stationary law is ``N(0, s^2 / (1 - eta / (2 s^2)))``. MALA adds
    a Metropolis-Hastings test with the proposal densities
    ``q(z'|z) = N(z'; z + eta M s(z), 2 eta M)`` and is exact.

    A proposal whose position, potential or score is not finite is never taken: MALA
    rejects it (acceptance probability 0), ULA keeps the current state for that step;
    ``num_diverging`` counts it, with the proposals whose log ratio is below -1000. The
    transition is flagged ``diverging`` (what ``print_summary`` counts) when one of them
    came in a transition that accepted under 10% of its proposals (ULA: any), a region
    the chain cannot move in at its step size (``docs/reliability.md``).

    **References:**

    1. *Exponential convergence of Langevin distributions and their discrete
       approximations*, G. O. Roberts, R. L. Tweedie (1996)
    2. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: ``z -> grad log p(z)`` with the structure of ``z`` (for learned scores
        with no density; ULA only).
    :param float step_size: ``eta``; the initial value when adapted (MALA only).
    :param num_steps: Langevin steps per MCMC transition (per stored draw). Default None:
        chosen in warmup from the draws' lag-1 autocorrelation (warmup transitions of 5
        steps, then 1 to 20 a draw, aiming at successive draws correlated by 0.5;
        :mod:`numpyro_cld.blocks.thinning`; 20 with ``num_warmup=0``); read it, and count
        the gradients, with ``extra_fields=("num_steps",)`` as for NUTS. With the
        defaults, 4 x 1000 draws passed the criteria of ``docs/defaults.md`` (bulk ESS >=
        100, r-hat <= 1.05) on seven of nine posteriors (bulk ESS 1,036 to 3,019; 0.99 to
        16x NUTS's ESS per gradient) and failed on the two funnels (centred eight schools,
        a 10-d funnel: ESS 14-42, r-hat 1.07-1.24), which its r-hat, ESS and divergences
        report; there NUTS or ``ChainedLangevin`` is the better choice.
    :param bool adjust: use the Metropolis-Hastings test (MALA). Default: ``True`` when the
        target has a density (``model`` or ``potential_fn``), ``False`` for ``score_fn``.
        ULA (``adjust=False``) is biased: for ``N(0, s^2)`` it samples
        ``N(0, s^2 / (1 - eta / (2 s^2)))``, 2.6% too wide at ``eta = 0.1 s^2``.
    :param bool adapt_step_size: dual-averaging adaptation of ``eta`` to
        ``target_accept_prob`` at every Langevin step of warmup. Default: with ``adjust``;
        ``True`` without ``adjust`` raises (ULA has no acceptance rate to adapt to).
    :param float target_accept_prob: target of the adaptation (0.574 is optimal for MALA).
    :param adapt_mass_matrix: adapt the (diagonal or dense) mass matrix during warmup, in
        NumPyro's windows, to the geometric mean of the draws' covariance and the inverse of
        the scores' (:func:`numpyro_cld.blocks.adaptation.langevin_adapter`); defaults to
        ``adjust``.
    :param dense_mass: dense rather than diagonal mass matrix. Default (None): dense up to
        :data:`~numpyro_cld.samplers.langevin.DENSE_MAX_DIM` (200) latent coordinates,
        diagonal above (or the shape of a given ``inverse_mass_matrix``). NUTS's default is
        diagonal; MALA's steps are short, and a direction the mass gets wrong costs it the
        square of the error in steps: on rotated Gaussians of condition number 1e3-1e4 and
        a latent AR(1) series (d = 100) dense gave 14-600x the bulk ESS per gradient, above
        NUTS's (``docs/defaults.md``, "Hard geometry").
    :param inverse_mass_matrix: initial inverse mass matrix ``M`` (vector or matrix).
    :param init_strategy: NumPyro per-site initialisation strategy.

    **Example**

    .. doctest::

        >>> import jax
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import Langevin
        >>> def model():
        ...     numpyro.sample("x", dist.Normal(1.0, 2.0))
        >>> mcmc = MCMC(Langevin(model, adjust=True, num_steps=5), num_warmup=500,
        ...             num_samples=2000, progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> abs(float(mcmc.get_samples()["x"].mean()) - 1.0) < 0.3
        True
    """

    def __init__(
        self,
        model: Callable | None = None,
        *,
        potential_fn: Callable | None = None,
        score_fn: Callable | None = None,
        step_size: float = 0.01,
        num_steps: int | None = None,
        adjust: bool | None = None,
        adapt_step_size: bool | None = None,
        target_accept_prob: float = 0.574,
        adapt_mass_matrix: bool | None = None,
        dense_mass: bool | None = None,
        inverse_mass_matrix: Any = None,
        init_strategy: Callable = init_to_uniform,
    ):
        super().__init__(
            model, potential_fn=potential_fn, score_fn=score_fn, init_strategy=init_strategy
        )
        self._step_size = positive_float("step_size", step_size)
        self._num_steps = None if num_steps is None else positive_int("num_steps", num_steps)
        self._adjust = (score_fn is None) if adjust is None else flag("adjust", adjust)
        if self._adjust and score_fn is not None:
            raise ValueError(
                "`adjust=True` needs a density for the Metropolis test, but only `score_fn` "
                "was given; pass `model` or `potential_fn`, or use adjust=False (ULA)."
            )
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
        self._adapt_step_size = adapt_if_adjusted(adapt_step_size, self._adjust)
        self._adapt_mass_matrix = (
            self._adjust
            if adapt_mass_matrix is None
            else flag("adapt_mass_matrix", adapt_mass_matrix)
        )
        self._dense_mass = None if dense_mass is None else flag("dense_mass", dense_mass)
        self._inverse_mass_matrix = inverse_mass("inverse_mass_matrix", inverse_mass_matrix)

    def _resolve(self, model_args, model_kwargs, one_params):
        """The size of ``inverse_mass_matrix`` against the model's latent dimension."""
        if self._inverse_mass_matrix is None:
            return
        dim = int(np.size(ravel_pytree(one_params)[0]))
        shape = np.shape(self._inverse_mass_matrix)
        if shape[0] != dim:
            want = f"({dim},) (diagonal) or ({dim}, {dim}) (dense)"
            raise ValueError(
                f"`inverse_mass_matrix` has shape {shape}, but the model has {dim} latent "
                f"coordinates (its sites raveled in order): expected shape {want}."
            )

    def _fixed_step_size(self):
        if self._adapt_step_size and self._num_warmup > 0:
            return None
        m = 1.0
        if self._inverse_mass_matrix is not None:
            arr = np.asarray(self._inverse_mass_matrix, np.float64)
            m = float(np.max(arr if arr.ndim == 1 else np.diag(arr)))
        return self._step_size, m

    def _check_stable_step(self, state, model_args, model_kwargs):
        """ULA at a fixed step size ``eta`` is unstable where ``eta * m * L > 2`` (``L`` the
        curvature of the potential, ``m`` the inverse mass): on a Gaussian its drift then
        multiplies the distance to the mean by ``|1 - eta m L| > 1`` each step, and the chain
        explodes until every proposal is non-finite (a frozen chain). ``L`` is estimated at
        the first chain's start by a difference of scores; a warning names ``step_size``."""
        fixed = self._fixed_step_size()
        if self._adjust or fixed is None:
            return
        eta, m = fixed
        one = jax.tree.map(lambda a: a[0], state.z) if jnp.ndim(state.potential_energy) else state.z
        x = flat_vector(one)
        if traced(x, eta):
            return
        f = self._target(model_args, model_kwargs)
        _, s0 = f(x, None)
        h = 1e-2 * max(1.0, float(jnp.max(jnp.abs(x))))
        v = s0 / jnp.maximum(jnp.linalg.norm(s0), jnp.finfo(s0.dtype).tiny)
        if not jnp.any(v):
            v = jnp.ones_like(x) / np.sqrt(x.size)
        _, s1 = f(x + h * v, None)
        curvature = float(jnp.linalg.norm(s1 - s0)) / h
        if np.isfinite(curvature) and eta * m * curvature > 2:
            warnings.warn(
                f"{type(self).__name__}: `step_size` {eta:.3g} is unstable for ULA here: the "
                f"target's curvature at the start is about {curvature:.3g}, and a fixed step "
                f"above 2/curvature = {2 / (m * curvature):.3g} makes each step overshoot "
                "further (the chain explodes, then every step is rejected as non-finite). "
                "Use a smaller step_size, or adjust=True with adapt_step_size=True.",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )

    def get_diagnostics_str(self, state):
        return (
            f"step size {state.adapt_state.step_size:.2e}. acc. prob={state.mean_accept_prob:.2f}"
            f". {state.num_steps} steps"
        )

    def _sampler(self, model_args, model_kwargs):
        return langevin(
            self._target(model_args, model_kwargs),
            step_size=self._step_size,
            num_steps=self._num_steps,
            adjust=self._adjust,
            num_warmup=self._num_warmup,
            adapt_step_size=self._adapt_step_size,
            adapt_mass_matrix=self._adapt_mass_matrix,
            dense_mass=self._dense_mass,
            target_accept_prob=self._target_accept_prob,
            inverse_mass_matrix=self._inverse_mass_matrix,
        )
