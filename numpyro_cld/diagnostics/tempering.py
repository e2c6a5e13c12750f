"""How the ladder of a tempered run communicated: per chain and neighbouring pair of powers,
the mean swap acceptance, and per chain the rate of swaps into the posterior replica (the
mode jumps), from an :class:`~numpyro.infer.MCMC` run of
``ChainedLangevin(conditional="tempered")`` or :class:`~numpyro_cld.TemperedLangevin`
(``docs/posteriors.md``); and the log evidence those runs estimate (:func:`log_evidence`)."""

from typing import NamedTuple

import numpy as np
import xarray as xr

from ..samplers.tempering import TemperedAdaptState

__all__ = ["LogEvidence", "log_evidence", "swap_summary"]


def _tempered_state(mcmc) -> TemperedAdaptState:
    state = getattr(mcmc, "last_state", None)
    adapt = getattr(state, "adapt_state", None)
    if not isinstance(adapt, TemperedAdaptState):
        raise ValueError(
            "`mcmc` must have run a tempered kernel (TemperedLangevin, or ChainedLangevin "
            "with conditional='tempered' or 'auto' on a model with data); its last state "
            "has no ladder."
        )
    return adapt


class LogEvidence(NamedTuple):
    """The log evidence of a tempered run (:func:`log_evidence`).

    - **estimate** - ``log Z``, the mean of the chains' estimates.
    - **mcse** - its Monte-Carlo standard error, from the spread between chains (NaN with
      one chain).
    - **per_chain** - ``(chains,)`` each chain's own estimate.
    """

    estimate: float
    mcse: float
    per_chain: np.ndarray


def log_evidence(mcmc) -> LogEvidence:
    """The log evidence ``log Z`` of the target of a tempered run, by
    stepping stones over its ladder (Xie et al. 2011): ``log Z = sum_j log E_{p_{b_j}}
    exp((b_{j+1} - b_j) log L)``, each expectation over the draws after warmup of the
    replica of power ``b_j``.

    With the prior as reference (a model with data) ``Z = p(y)``, the marginal likelihood:
    the prior's normalising constant is 1 (NumPyro's unconstrained potential includes the
    transforms' Jacobians; discrete sites summed out count as part of it). With a fitted
    Gaussian reference (a ``potential_fn`` or an improper prior) ``Z = int exp(-U)``, the
    normalising constant of the density the run was given.

    Each chain gives its own estimate (its ladder is its own, adapted in warmup); the
    estimate is their mean, and its standard error the chains' standard deviation over
    ``sqrt(chains)`` (independent chains, so it includes the autocorrelation within each;
    NaN with one chain).

    :param mcmc: a :class:`numpyro.infer.MCMC` after ``run``, with a tempered kernel.
    :return: a :class:`LogEvidence`.
    """
    adapt = _tempered_state(mcmc)
    terms = np.asarray(adapt.log_ratio_sum, np.float64)
    draws = np.asarray(adapt.num_draws, np.float64)
    terms, draws = np.atleast_2d(terms), np.atleast_1d(draws)
    if np.any(draws < 1):
        raise ValueError(
            "`mcmc` has no draws after warmup to estimate the evidence from (num_samples=0)."
        )
    per_chain = (terms - np.log(draws)[:, None]).sum(-1)  # sum over pairs of log means
    chains = per_chain.shape[0]
    mcse = np.std(per_chain, ddof=1) / np.sqrt(chains) if chains > 1 else np.nan
    return LogEvidence(float(per_chain.mean()), float(mcse), per_chain)


def swap_summary(mcmc) -> xr.Dataset:
    """The swap statistics of a tempered run.

    :param mcmc: a :class:`numpyro.infer.MCMC` that ran a ``ChainedLangevin`` on the tempered
        route (``conditional="tempered"``, or ``"auto"`` on a model with data).
    :return: an ``xarray.Dataset`` with dimensions ``chain`` and ``pair`` (pair ``j``: powers
        ``j`` and ``j + 1``, ``0`` the prior): ``beta_low``, ``beta_high`` (the ladder after
        warmup), ``swap_accept`` (mean acceptance over the pair's proposals after warmup), and
        per chain ``jump_rate``, the fraction of transitions where a swap replaced the
        posterior replica, when ``extra_fields=("adapt_state.jumped",)`` was collected
        (NaN otherwise).
    """
    adapt = _tempered_state(mcmc)
    betas = np.asarray(adapt.betas)
    total, count = np.asarray(adapt.swap_accept_sum), np.asarray(adapt.num_proposed)
    if betas.ndim == 1:  # one chain, or NumPyro's sequential last state
        betas, total, count = betas[None], total[None], count[None]
    accept = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    chains = betas.shape[0]
    jumped = mcmc.get_extra_fields(group_by_chain=True).get("adapt_state.jumped")
    jump = np.full(chains, np.nan)
    if jumped is not None:
        jump = np.asarray(jumped, np.float64).reshape(chains, -1).mean(-1)
    return xr.Dataset(
        {
            "beta_low": (("chain", "pair"), betas[:, :-1]),
            "beta_high": (("chain", "pair"), betas[:, 1:]),
            "swap_accept": (("chain", "pair"), accept),
            "jump_rate": (("chain",), jump),
        },
        coords={"chain": np.arange(chains), "pair": np.arange(betas.shape[1] - 1)},
    )
