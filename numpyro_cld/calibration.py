"""Simulation-based calibration (SBC) of a kernel on a NumPyro model.

For each replication a parameter ``θ*`` and data ``y*`` are drawn from the prior predictive,
the kernel is run on ``p(θ | y*)`` and the rank of ``θ*`` among ``L`` thinned posterior draws
is recorded. An exact sampler gives ranks uniform on ``0..L`` (Talts et al. 2018). All
replications run as one compiled, vectorised program: the kernel is driven through its
``init`` / ``sample`` interface under ``jax.vmap``, each replication with its own data.

**Reference:** *Validating Bayesian Inference Algorithms with Simulation-Based Calibration*,
S. Talts, M. Betancourt, D. Simpson, A. Vehtari, A. Gelman (2018).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpy.typing import ArrayLike
from numpyro.distributions.transforms import biject_to
from numpyro.infer import Predictive
from numpyro.infer.mcmc import MCMCKernel

from .checks import nonnegative_int, positive_int

__all__ = ["SBCResult", "sbc_ranks", "rank_uniformity_test"]


class SBCResult(NamedTuple):
    """- **ranks** - ``{name: (num_replications,)}`` integer ranks in ``0..num_draws``.
    - **num_draws** - ``L``, the number of thinned posterior draws per replication."""

    ranks: dict
    num_draws: int


def sbc_ranks(
    kernel: MCMCKernel,
    rng_key: jax.Array,
    *,
    data_site: str,
    num_replications: int = 1000,
    num_warmup: int = 500,
    num_draws: int = 99,
    thin: int = 1,
    coords: dict[str, int] | None = None,
    model_args: tuple = (),
    model_kwargs: dict[str, Any] | None = None,
) -> SBCResult:
    """Ranks of prior draws among posterior draws for ``num_replications`` data sets.

    :param kernel: a numpyro_cld kernel built from a model that takes its observations as the
        keyword argument ``data_site`` (``model(..., y=None)``).
    :param rng_key: PRNG key.
    :param str data_site: name of the observed site (and of the model keyword).
    :param int num_replications: number of simulated data sets.
    :param int num_warmup: warmup transitions per replication.
    :param int num_draws: ``L`` posterior draws kept per replication (after thinning).
    :param int thin: transitions between kept draws.
    :param dict coords: ``{site: flat_index}`` of scalar coordinates to rank (default: the
        first coordinate of every latent site). Ranks are computed in unconstrained space,
        which leaves them unchanged (ranks are invariant under monotone maps).
    :param tuple model_args: positional arguments of the model.
    :param dict model_kwargs: keyword arguments of the model (besides ``data_site``).
    :return: :class:`SBCResult`.
    """
    if not isinstance(kernel, MCMCKernel) or getattr(kernel, "model", None) is None:
        raise TypeError(
            "`kernel` must be a numpyro_cld kernel built from a model (SBC draws from its "
            f"prior predictive), got {type(kernel).__name__}."
        )
    num_replications = positive_int("num_replications", num_replications)
    num_warmup = nonnegative_int("num_warmup", num_warmup)
    num_draws = positive_int("num_draws", num_draws)
    thin = positive_int("thin", thin)
    model_kwargs = dict(model_kwargs or {})
    # under this vmap a fault callback would run on every transition of every replication;
    # faults still show in the draws' ranks
    kernel = copy.copy(kernel)
    kernel.warn_faults = False
    key_prior, key_run = random.split(rng_key)
    prior = Predictive(kernel.model, num_samples=num_replications)(
        key_prior, *model_args, **model_kwargs
    )
    if data_site not in prior:
        raise ValueError(f"`data_site` {data_site!r} is not a site of the model: {list(prior)}.")
    latent = [k for k in prior if k != data_site]
    coords = {k: 0 for k in latent} if coords is None else dict(coords)
    for k, i in coords.items():
        if k not in latent:
            raise ValueError(f"`coords` names {k!r}, which is not a latent site: {latent}.")
        size = int(np.prod(np.shape(prior[k])[1:], dtype=int))
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < size:
            raise ValueError(
                f"`coords` index of {k!r} must be an integer in 0..{size - 1}, got {i!r}."
            )

    def unconstrained_truth(name):
        # the model's own support transform maps the prior draw to the kernel's space
        from numpyro.handlers import seed, trace

        tr = trace(seed(kernel.model, 0)).get_trace(*model_args, **model_kwargs)
        t = biject_to(tr[name]["fn"].support)
        return t.inv(prior[name]).reshape(num_replications, -1)[:, coords[name]]

    truth = {k: unconstrained_truth(k) for k in coords}

    def one(key, y):
        kw = {**model_kwargs, data_site: y}
        state = kernel.init(key, num_warmup, None, model_args, kw)

        def step(s, _):
            return kernel.sample(s, model_args, kw), None

        def keep(s, _):
            s, _ = jax.lax.scan(step, s, None, length=thin)
            return s, {k: jnp.ravel(s.z[k])[coords[k]] for k in coords}

        state, _ = jax.lax.scan(step, state, None, length=num_warmup)
        _, draws = jax.lax.scan(keep, state, None, length=num_draws)
        return draws

    keys = random.split(key_run, num_replications)
    draws = jax.jit(jax.vmap(one))(keys, prior[data_site])
    ranks = {k: np.asarray((draws[k] < truth[k][:, None]).sum(1)) for k in coords}
    return SBCResult(ranks, num_draws)


def rank_uniformity_test(
    ranks: ArrayLike, num_draws: int, num_bins: int = 10
) -> tuple[float, float]:
    """Chi-square test of uniform ranks on ``0..num_draws`` with ``num_bins`` equal bins.

    :param ranks: integer ranks in ``0..num_draws``.
    :param int num_draws: ``L``, the number of posterior draws per replication.
    :param int num_bins: number of equal bins; must divide ``num_draws + 1``.
    :return: ``(statistic, p_value)``.
    """
    from scipy import stats

    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0 or not np.issubdtype(ranks.dtype, np.integer):
        raise ValueError(
            f"`ranks` must be a non-empty 1-d array of integers, got shape {ranks.shape} and "
            f"dtype {ranks.dtype}."
        )
    num_draws = positive_int("num_draws", num_draws)
    num_bins = positive_int("num_bins", num_bins)
    if num_bins < 2:
        raise ValueError(f"`num_bins` must be at least 2 for a chi-square test, got {num_bins}.")
    if (num_draws + 1) % num_bins:
        raise ValueError(
            f"`num_bins` ({num_bins}) must divide num_draws + 1 ({num_draws + 1}) so that "
            "every bin holds the same number of ranks."
        )
    if ranks.min() < 0 or ranks.max() > num_draws:
        raise ValueError(
            f"`ranks` must lie in 0..{num_draws}, got values in {ranks.min()}..{ranks.max()}."
        )
    counts = np.bincount(ranks * num_bins // (num_draws + 1), minlength=num_bins)
    expected = len(ranks) / num_bins
    stat = float(((counts - expected) ** 2 / expected).sum())
    return stat, float(stats.chi2.sf(stat, num_bins - 1))
