"""Level sources: smoothed targets along an annealing path (see :mod:`.protocol`),
``source(x, level, rng_key)`` with ``level`` a ``sigma`` on the ``"ve"`` path and a
``lambda`` on ``"vp"`` and ``"tempered"``.

- :func:`exact_level_source` - exact smoothing of a NumPyro model by the
  :class:`~numpyro_cld.sources.smoothing.smooth` effect handler.
- :func:`mc_level_source` - self-normalised Monte-Carlo (Tweedie) smoothing of any
  potential, for any path and base, including the Student-t base.
- :func:`tempered_level_source` - the geometric path ``p^lam nu^(1 - lam)``.
- :func:`score_fn_level_source` - a learned noise-conditional ``score_fn(x, level)``.
"""

import inspect
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.scipy.special import logsumexp
from numpyro.infer.util import potential_energy

from ..schedules import GaussianBase, check_sigmas, vp_coefficients
from .protocol import Source
from .smoothing import smooth

__all__ = [
    "ScoreAtLevel",
    "check_noise_conditional",
    "exact_level_source",
    "mc_level_source",
    "score_fn_level_source",
    "tempered_level_source",
]


def exact_level_source(
    model: Callable,
    model_args: tuple,
    model_kwargs: dict | None,
    path: str,
    base: Any,
    unravel_fn: Callable,
) -> Source:
    """Level source of the exactly smoothed ``model`` (check it first with
    :func:`exact_smoothing_problems`)."""
    model_kwargs = {} if model_kwargs is None else model_kwargs

    def flat_potential(x, level):
        smoothed = smooth(model, path=path, level=level, base=base)
        return potential_energy(smoothed, model_args, model_kwargs, unravel_fn(x))

    value_and_grad = jax.value_and_grad(flat_potential)

    def source(x, level, rng_key=None):
        pe, grad = value_and_grad(x, level)
        return pe, -grad

    return source


def mc_level_source(flat_potential: Callable, path: str, base: Any, num_mc_samples: int) -> Source:
    r"""Self-normalised importance-sampling (Tweedie) level source for a potential ``U``.

    Write the path as ``X_level = a X + tau Z`` with ``Z ~ nu`` (ve: ``a = 1``,
    ``tau = sigma``, ``nu = N(0, I)``; vp: ``a = sqrt(lam)``, ``tau = sqrt(1 - lam)``).
    Then ``p_level(x) = a^{-d} E_z[p((x - tau z) / a)]`` and
    ``grad log p_level(x) = E[grad log nu(z) | x] / tau`` under
    ``z | x ∝ nu(z) p((x - tau z) / a)``. With ``n`` draws ``z_j ~ nu`` and weights
    ``w_j ∝ exp(-U((x - tau z_j) / a))``:

    .. math::

        \hat s(x) = \frac{1}{\tau}\sum_j w_j \nabla\log\nu(z_j),\qquad
        \hat U(x) = -\log\frac1n\sum_j e^{-U(y_j)} + d\log a .

    For ``nu = N(0, I)`` this is Tweedie's ``sum_j w_j (y_j - x) / sigma^2``.
    The estimator is biased (self-normalisation, ``O(1/n)``) with variance growing with
    the mismatch between the proposal (width ``tau / a``) and ``p``: it is accurate at
    small noise and degrades at large noise and in high dimension. At ``lam = 1``
    (``tau = 0``) the exact score of ``U`` is returned. ``U_hat`` is a noisy estimate
    and must not drive a Metropolis test.
    """
    noise = GaussianBase() if path == "ve" else base
    value_and_grad = jax.value_and_grad(flat_potential)

    def source(x, level, rng_key):
        d = x.shape[-1]
        if path == "ve":
            a, tau = jnp.ones((), x.dtype), level
        else:
            a, tau = vp_coefficients(level)
        positive = tau > 0
        tau_safe = jnp.where(positive, tau, 1.0)
        z = noise.sample(rng_key, (num_mc_samples, d), x.dtype)
        y = (x - tau * z) / a
        log_w = -jax.vmap(flat_potential)(y)
        log_w = jnp.where(jnp.isnan(log_w), -jnp.inf, log_w)
        w = jax.nn.softmax(log_w)
        score = w @ noise.score(z) / tau_safe
        pe = -(logsumexp(log_w) - math.log(num_mc_samples)) + d * jnp.log(a)
        if path == "ve":
            return pe, score
        pe_1, grad_1 = value_and_grad(x)
        return jnp.where(positive, pe, pe_1), jnp.where(positive, score, -grad_1)

    return source


def tempered_level_source(flat_potential: Callable, base: Any) -> Source:
    """Level source of the geometric path ``U_lam = lam U + (1 - lam) U_nu``."""

    def potential(x, lam):
        return lam * flat_potential(x) - (1 - lam) * base.log_prob(x)

    value_and_grad = jax.value_and_grad(potential)

    def source(x, level, rng_key=None):
        pe, grad = value_and_grad(x, level)
        return pe, -grad

    return source


def score_fn_level_source(score_fn: Callable, unravel_fn: Callable) -> Source:
    """Level source of a learned ``score_fn(z, level)`` on pytrees (no density: ``U = 0``)."""

    def source(x, level, rng_key=None):
        score = ravel_pytree(score_fn(unravel_fn(x), level))[0]
        return jnp.zeros((), jnp.result_type(x)), score.astype(jnp.result_type(x))

    return source


class ScoreAtLevel:
    """``z -> score_fn(z, level)``: the learned score at one level (picklable)."""

    def __init__(self, score_fn: Callable, level: Any):
        self.score_fn, self.level = score_fn, level

    def __call__(self, z):
        return self.score_fn(z, self.level)


def trained_levels(score_fn: Callable, levels: Any, auto: bool, rtol: float = 1e-4) -> Any:
    """The levels of path ``"ve"`` for a ``score_fn`` that knows the noise levels its network
    was trained on (``score_fn.trained_sigmas``, set by
    :func:`~numpyro_cld.nets.as_score_fn`): with ``sigmas="auto"`` (``auto``) those levels,
    largest first; given ``levels``, ``ValueError`` naming ``sigmas`` unless each is one of
    them (a network asked for a level it never saw returns an untrained extrapolation, not
    an error). ``levels`` unchanged for any other ``score_fn``."""
    trained = getattr(score_fn, "trained_sigmas", None)
    if trained is None:
        return levels
    trained = np.asarray(trained, np.float64)
    if auto:
        return check_sigmas(np.unique(trained)[::-1], "score_fn.trained_sigmas")
    check_among_trained(
        np.asarray(levels, np.float64), trained, " of `score_fn`", "pass those levels, or "
        "sigmas='auto', which uses them", rtol,
    )  # fmt: skip
    return levels


def check_among_trained(levels, trained, whose: str, fix: str, rtol: float = 1e-4) -> None:
    """Refuse noise ``levels`` (naming ``sigmas``) that are not, to ``rtol``, among the
    ``trained`` ones: a network says nothing reliable at levels it never saw."""
    close = np.abs(levels[:, None] - trained[None, :]) <= rtol * trained[None, :]
    missing = levels[~close.any(1)]
    if missing.size:
        raise ValueError(
            f"`sigmas` {np.round(missing, 6).tolist()} are not among the levels the network"
            f"{whose} was trained on ({np.round(trained, 6).tolist()}); {fix}."
        )


def check_noise_conditional(score_fn: Callable) -> None:
    """Raise ``TypeError`` unless ``score_fn`` takes ``(x, level)``."""
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
