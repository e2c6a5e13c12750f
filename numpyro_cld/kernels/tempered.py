"""Replica exchange over likelihood powers as a NumPyro kernel (:class:`TemperedLangevin`),
and the pieces that bind :func:`~numpyro_cld.samplers.replica_exchange` to a model, which the
tempered route of :class:`~numpyro_cld.ChainedLangevin` shares (``docs/posteriors.md``)."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.initialization import init_to_uniform

from ..checks import open_unit, positive_float, positive_int
from ..samplers.langevin import langevin
from ..samplers.tempering import TemperedAdaptState, refreshed, replica_exchange
from ..schedules import tempering_ladder
from ..sources.tempered import prior_sample_error, tempered_model
from .base import LangevinBase
from .states import flat_state

__all__ = [
    "TemperedAdaptState",
    "TemperedLangevin",
    "refresh_tempered",
    "progress_line",
    "tempered_refresh",
    "tempered_sampler",
    "tempered_unavailable",
]


def tempered_unavailable(site_trace: dict | None) -> str | None:
    """Why the tempered route cannot run on the model traced in ``site_trace`` (None for a
    ``potential_fn``/``score_fn``), or None: it needs a model with observed sites whose prior
    can be drawn by running it forward."""
    if site_trace is None:
        return (
            "needs a `model`: it splits prior and likelihood and draws from the prior, which "
            "a `potential_fn` or `score_fn` does not allow"
        )
    if not any(s["type"] == "sample" and s["is_observed"] for s in site_trace.values()):
        return (
            "tempers the likelihood, but this model has no observed sites; its prior is the "
            "target (use conditional='auto')"
        )
    why = prior_sample_error(site_trace)
    return None if why is None else f"draws the prior by running the model forward, but {why}"


def tempered_sampler(
    model, model_args, model_kwargs, make_local, ladder, *, make_target, num_warmup, unravel
):
    """:func:`~numpyro_cld.samplers.tempering.replica_exchange` bound to ``model``."""
    betas, adapt = ladder
    tm = tempered_model(model, model_args, model_kwargs, unravel=unravel)
    return replica_exchange(
        make_local,
        tm.potential_and_score,
        tm.log_likelihood,
        tm.prior_sample,
        betas=betas,
        make_target=make_target,
        num_warmup=num_warmup,
        adapt_betas=adapt,
    )


def tempered_refresh(model, model_args, model_kwargs, state, unravel):
    """A flat replica-exchange ``state`` with every replica's cached potential, score and
    log-likelihood recomputed for new model arguments (``numpyro.infer.Gibbs`` moves the
    other blocks' sites between transitions)."""
    tm = tempered_model(model, model_args, model_kwargs, unravel=unravel)
    a = state.adapt_state
    hot = [] if a.hot is None else [a.hot.z]
    z = jnp.concatenate([a.prior_z[None], *hot, state.z[None]])
    state = state._replace(adapt_state=a._replace(log_likelihood=jax.vmap(tm.log_likelihood)(z)))
    return refreshed(state, z, lambda b: lambda x, key=None: tm.potential_and_score(x, b, key))


def progress_line(state) -> str:
    """The progress bar's line of a replica-exchange state: mean swap acceptance."""
    a = state.adapt_state
    swap = np.mean(np.asarray(a.swap_accept_sum) / np.maximum(a.num_proposed, 1))
    return f"swap acc. {swap:.2f}, acc. prob={state.mean_accept_prob:.2f}"


class TemperedLangevin(LangevinBase):
    r"""Replica exchange over likelihood powers, every replica moved by Langevin steps.

    A posterior ``p(z | y) ~ p0(z) L(z)`` is sampled together with ``p0 L^b`` for a ladder
    ``0 = b_0 < b_1 < ... < b_n = 1``: each transition moves every replica of a power in
    ``(0, 1]`` by ``num_steps`` MALA steps (ULA with ``adjust=False``) of its own law, draws
    the ``b = 0`` replica exactly from the prior by running the model forward, and proposes
    swaps of neighbouring replicas with the non-reversible even/odd schedule; warmup re-spaces
    the ladder to equal swap rates (:func:`~numpyro_cld.samplers.replica_exchange`). The
    ``b = 1`` replica is an exact posterior chain, and a prior draw in a mode the chain never
    visited can climb the ladder into it. A transition costs about ``n (num_steps + 1)``
    gradients. :class:`~numpyro_cld.ChainedLangevin` runs the same route on a model with data,
    with its patch sweep at the posterior replica.

    ``state.adapt_state`` is a :class:`~numpyro_cld.samplers.TemperedAdaptState`
    (``extra_fields=("adapt_state.jumped",)`` records the swaps that replaced the posterior
    replica; :func:`numpyro_cld.diagnostics.swap_rates` reads the ladder).

    **References:**

    1. *Non-reversible parallel tempering: a scalable highly parallel MCMC scheme*, S. Syed,
       A. Bouchard-Cote, G. Deligiannidis, A. Doucet (2022)
    2. *Markov chain Monte Carlo maximum likelihood*, C. J. Geyer (1991)

    :param model: a NumPyro model with observed sites and a prior that can be drawn by
        running it forward (no ``ImproperUniform`` or discrete latent site).
    :param betas: an int ``n`` (default 8) for ``n`` powers geometric from 1e-3 to 1,
        re-spaced in a warmup of at least 40 transitions, or an increasing sequence in
        ``(0, 1]`` ending at 1, used as given.
    :param int num_steps: Langevin steps of each replica per transition (default 2).
    :param float step_size: initial ``eta`` of every replica (adapted with ``adjust``).
    :param bool adjust: MALA (default) or ULA moves.
    :param float target_accept_prob: target of each replica's step-size adaptation.
    :param init_strategy: NumPyro per-site initialisation strategy.
    """

    def __init__(
        self,
        model: Callable,
        *,
        betas: Any = 8,
        num_steps: int = 2,
        step_size: float = 0.1,
        adjust: bool = True,
        target_accept_prob: float = 0.574,
        init_strategy: Callable = init_to_uniform,
    ):
        if model is None:
            raise ValueError("TemperedLangevin needs a `model` (it draws from its prior).")
        super().__init__(model, init_strategy=init_strategy)
        self._ladder = tempering_ladder(betas)
        self._num_steps = positive_int("num_steps", num_steps)
        self._step_size = positive_float("step_size", step_size)
        self._adjust = bool(adjust)
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)

    def _resolve(self, model_args, model_kwargs, one_params):
        why = tempered_unavailable(self._site_trace)
        if why is not None:
            raise ValueError(f"TemperedLangevin {why}.")

    def _local(self, potential_and_score):
        return langevin(
            potential_and_score,
            step_size=self._step_size,
            num_steps=self._num_steps,
            adjust=self._adjust,
            num_warmup=self._num_warmup,
            target_accept_prob=self._target_accept_prob,
        )

    def _sampler(self, model_args, model_kwargs):
        return tempered_sampler(
            self._model, model_args, model_kwargs, self._local, self._ladder,
            make_target=self._local, num_warmup=self._num_warmup, unravel=self._unravel_fn,
        )  # fmt: skip

    def refresh(self, state, model_args, model_kwargs):
        return refresh_tempered(self, state, model_args, model_kwargs)

    def get_diagnostics_str(self, state):
        return progress_line(state)


def refresh_tempered(kernel: LangevinBase, state, model_args, model_kwargs):
    """``kernel.refresh`` of a replica-exchange state (on pytrees), for either kernel."""
    flat = flat_state(state)
    new = tempered_refresh(kernel.model, model_args, model_kwargs, flat, kernel._unravel_fn)
    return kernel._as_tree(new)._replace(rng_key=state.rng_key)
