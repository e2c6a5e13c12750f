"""How the ladder of a tempered run communicated: per chain and neighbouring pair of powers,
the mean swap acceptance, and per chain the rate of swaps into the posterior replica (the
mode jumps), from an :class:`~numpyro.infer.MCMC` run of
``ChainedLangevin(conditional="tempered")`` (``docs/posteriors.md``)."""

import numpy as np
import xarray as xr

from ..samplers.tempering import TemperedAdaptState

__all__ = ["swap_summary"]


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
    state = getattr(mcmc, "last_state", None)
    adapt = getattr(state, "adapt_state", None)
    if not isinstance(adapt, TemperedAdaptState):
        raise ValueError(
            "`mcmc` must have run ChainedLangevin on the tempered route (conditional="
            "'tempered', or 'auto' on a model with data); its last state has no swaps."
        )
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
