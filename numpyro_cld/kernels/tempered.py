"""Replica exchange over likelihood powers as a NumPyro kernel (:class:`TemperedLangevin`),
and the pieces that bind :func:`~numpyro_cld.samplers.replica_exchange` to a model, which the
tempered route of :class:`~numpyro_cld.ChainedLangevin` shares (``docs/posteriors.md``)."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.initialization import init_to_uniform

from ..checks import flag, one_of, open_unit, positive_float, positive_int
from ..samplers.langevin import langevin
from ..samplers.tempering import (
    TemperedAdaptState,
    equalised_betas,
    refreshed,
    replica_exchange,
)
from ..schedules import tempering_ladder
from ..sources.reference import gaussian_path
from ..sources.tempered import prior_sample_error, tempered_model
from .base import LangevinBase
from .states import flat_state, flat_vector

__all__ = [
    "TemperedAdaptState",
    "TemperedLangevin",
    "refresh_tempered",
    "progress_line",
    "tempered_path",
    "tempered_reference",
    "tempered_refresh",
    "tempered_sampler",
    "tempered_unavailable",
]


def tempered_unavailable(has_density: bool) -> str | None:
    """Why the tempered route cannot run on this target, or None: only a ``score_fn`` (no
    density) stops it, since swaps and the evidence compare densities."""
    if has_density:
        return None
    return (
        "compares densities in its swaps, but a `score_fn` has none (give a `model` or a "
        "`potential_fn`)"
    )


def tempered_reference(site_trace: dict | None, reference: str = "auto") -> tuple[str, str | None]:
    """The reference of the tempered route on the model traced in ``site_trace`` (None for
    a ``potential_fn``) and why it is not the prior: ``("prior", None)`` for a model with
    observed sites whose prior can be drawn by running it forward (discrete sites summed out
    allowed), else ``("gaussian", why)``. ``reference="gaussian"`` asks for the fitted
    Gaussian anyway, and ``"prior"`` raises where the prior cannot be the reference."""
    if reference == "gaussian":
        return "gaussian", "asked for"
    if reference == "prior":
        why = tempered_reference(site_trace)[1]
        if why is not None:
            raise ValueError(f"reference='prior' cannot be used: {why}.")
        return "prior", None
    if site_trace is None:
        return "gaussian", "a `potential_fn` has no prior to draw"
    if not any(s["type"] == "sample" and s["is_observed"] for s in site_trace.values()):
        return "gaussian", "the model has no observed sites (its prior is the target)"
    why = prior_sample_error(site_trace)
    return ("prior", None) if why is None else ("gaussian", f"{why}, no prior draw")


def tempered_path(kernel: LangevinBase, reference: str, model_args, model_kwargs):
    """The :class:`~numpyro_cld.sources.tempered.TemperingPath` of ``kernel``'s target from
    ``reference`` (:func:`tempered_reference`) for these model arguments."""
    if reference == "prior":
        return tempered_model(
            kernel.model, model_args, model_kwargs, unravel=kernel._unravel_fn,
            site_trace=kernel._site_trace,
        ).path  # fmt: skip
    pe = kernel._potential(model_args, model_kwargs)
    unravel = kernel._unravel_fn
    return gaussian_path(kernel._target(model_args, model_kwargs), lambda z: pe(unravel(z)))


def tempered_sampler(path, make_local, ladder, *, make_target, num_warmup):
    """:func:`~numpyro_cld.samplers.tempering.replica_exchange` along ``path``."""
    betas, adapt = ladder
    return replica_exchange(
        make_local,
        path,
        betas=betas,
        make_target=make_target,
        num_warmup=num_warmup,
        adapt_betas=adapt,
    )


PILOT_TRANSITIONS = 100  # of the pilot run that sizes the ladder (betas="auto")
PILOT_POWERS = 8
MIN_POWERS, MAX_POWERS = 3, 32


def sized_ladder(path, make_local, position, num_steps) -> tuple[np.ndarray, float, float]:
    """The ladder for ``betas="auto"``: a pilot of ``PILOT_TRANSITIONS`` transitions of one
    chain from ``position`` with 8 powers adapted as in warmup estimates the communication
    barrier ``Lambda`` (the sum of the pairs' rejection rates over its second half, Syed et
    al. 2022, section 5); the run then gets ``2 Lambda + 1`` powers (rounded up, 3 to 32),
    equally spaced in ``Lambda``, which warmup adapts further. Returns the ladder (0 first),
    ``Lambda`` and the pilot's gradient evaluations (counted as in
    :func:`~.chained_plan.gradients_per_transition`). ``make_local(num_warmup)`` gives the
    replicas' local sampler builder, of ``num_steps`` steps a transition."""
    betas = tempering_ladder(PILOT_POWERS)[0]
    init, step = replica_exchange(
        make_local(PILOT_TRANSITIONS), path, betas=betas, num_warmup=PILOT_TRANSITIONS
    )

    @jax.jit
    def pilot(key):
        k_init, k_run = jax.random.split(key)
        state = init(position, k_init)
        body = lambda i, s: step(jax.random.fold_in(k_run, i), s)  # noqa: E731
        return jax.lax.fori_loop(0, PILOT_TRANSITIONS, body, state).adapt_state

    a = pilot(jax.random.key(0))
    rejection = 1.0 - np.asarray(a.swap_accept_sum) / np.maximum(np.asarray(a.num_proposed), 1)
    lam = float(np.sum(rejection))
    n = int(np.clip(np.ceil(2 * lam + 1), MIN_POWERS, MAX_POWERS))
    new = equalised_betas(jnp.asarray(a.betas), jnp.asarray(rejection, a.betas.dtype), n + 1)
    # per transition: every power's local steps, a re-evaluation and a log-likelihood each
    grads = PILOT_TRANSITIONS * (PILOT_POWERS * (num_steps + 2) + 1)
    return np.asarray(new, np.float64), lam, float(grads)


def ladder_arg(betas) -> tuple[tuple[np.ndarray, bool], bool]:
    """``(ladder, sized)`` from a kernel's ``betas``: ``"auto"`` is the pilot-sized ladder
    (:func:`sized_ladder`; 8 powers until it runs), anything else
    :func:`~numpyro_cld.schedules.tempering_ladder`."""
    sized = isinstance(betas, str) and betas == "auto"
    return tempering_ladder(PILOT_POWERS if sized else betas), sized


def pilot_or_none(kernel, path, make_local, one_params, num_steps):
    """:func:`sized_ladder` from one chain's start, or None where the start is traced (the
    kernel initialised under a user's ``jit``: the pilot needs concrete values)."""
    position = flat_vector(one_params)
    if isinstance(position, jax.core.Tracer) or position.size == 0:
        return None
    return sized_ladder(path, make_local, position, num_steps)


def mala_local(kernel: LangevinBase, step_size, num_steps, num_warmup, dense_mass=False):
    """Builder of the local sampler at a power: whole-vector MALA with the kernel's
    adjustment and step-size adaptation (the pilot builds it with its own warmup length)."""
    return lambda potential_and_score: langevin(
        potential_and_score,
        step_size=step_size,
        num_steps=num_steps,
        adjust=kernel._adjust,
        num_warmup=num_warmup,
        target_accept_prob=kernel._target_accept_prob,
        dense_mass=dense_mass,
    )


def tempered_refresh(path, state):
    """A flat replica-exchange ``state`` with every replica's cached potential, score and
    log-likelihood recomputed along ``path`` (bound to new model arguments:
    ``numpyro.infer.Gibbs`` moves the other blocks' sites between transitions)."""
    a = state.adapt_state
    ref = a.reference
    hot = [] if a.hot is None else [a.hot.z]
    z = jnp.concatenate([a.prior_z[None], *hot, state.z[None]])
    ll = jax.vmap(lambda x: path.log_ratio(x, ref))(z)
    state = state._replace(adapt_state=a._replace(log_likelihood=ll))
    return refreshed(state, z, lambda b: lambda x, key=None: path.potential_and_score(x, b, ref))


def progress_line(state) -> str:
    """The progress bar's line of a replica-exchange state: mean swap acceptance."""
    a = state.adapt_state
    swap = np.mean(np.asarray(a.swap_accept_sum) / np.maximum(a.num_proposed, 1))
    return f"swap acc. {swap:.2f}, acc. prob={state.mean_accept_prob:.2f}"


class TemperedLangevin(LangevinBase):
    r"""Replica exchange over tempered laws, every replica moved by Langevin steps.

    A target ``pi`` is sampled together with ``p_b ~ q^(1 - b) pi^b`` for a ladder
    ``0 = b_0 < b_1 < ... < b_n = 1``, from a reference ``q`` that can be drawn exactly: the
    prior of a model with data (``p_b ~ p0 L^b``, the likelihood tempered; discrete sites
    with ``infer={"enumerate": "parallel"}`` summed out as NUTS does), else a Gaussian
    fitted in warmup (an ``ImproperUniform`` + ``numpyro.factor`` density, a model without
    data, a ``potential_fn``; :mod:`numpyro_cld.sources.reference`). Each transition moves
    every replica of a power in ``(0, 1]`` by ``num_steps`` MALA steps (ULA with
    ``adjust=False``) of its own law with the diagonal mass adapted in warmup, draws the
    ``b = 0`` replica from ``q``, and proposes swaps of neighbouring replicas with the
    non-reversible even/odd schedule; warmup re-spaces the ladder to equal swap rates
    (:func:`~numpyro_cld.samplers.replica_exchange`). The ``b = 1`` replica is an exact
    chain of ``pi``, and a reference draw in a mode the chain never visited can climb the
    ladder into it. A transition costs about ``n (num_steps + 1)`` gradients and ``n + 1``
    log-density evaluations. :func:`numpyro_cld.diagnostics.log_evidence` reads the log
    evidence (stepping stones) off the run.

    ``state.adapt_state`` is a :class:`~numpyro_cld.samplers.TemperedAdaptState`
    (``extra_fields=("adapt_state.jumped",)`` records the swaps that replaced the posterior
    replica; :func:`numpyro_cld.diagnostics.swap_summary` reads the ladder).

    **References:**

    1. *Non-reversible parallel tempering: a scalable highly parallel MCMC scheme*, S. Syed,
       A. Bouchard-Cote, G. Deligiannidis, A. Doucet (2022)
    2. *Parallel tempering with a variational reference*, N. Surjanovic, S. Syed,
       A. Bouchard-Cote, T. Campbell (2022)
    3. *Markov chain Monte Carlo maximum likelihood*, C. J. Geyer (1991)

    :param model: a NumPyro model (continuous latent sites, or discrete ones enumerated).
    :param potential_fn: ``U(z) = -log pi(z)`` on the pytree of ``init_params`` instead.
    :param betas: an int ``n`` (default 8) for ``n`` powers geometric from 1e-3 to 1,
        re-spaced in a warmup of at least 40 transitions; ``"auto"`` for ``2 Lambda + 1``
        powers from the barrier ``Lambda`` a 100-transition pilot of one chain estimates
        (:func:`~numpyro_cld.kernels.tempered.sized_ladder`; ``kernel.pilot`` holds the
        ladder, ``Lambda`` and its gradients); or an increasing sequence in ``(0, 1]`` ending
        at 1, used as given.
    :param str reference: ``"auto"`` (default: the prior where it can be drawn and there is
        data, else ``"gaussian"``), ``"prior"``, or ``"gaussian"`` (a diagonal Gaussian fitted
        in warmup, :mod:`numpyro_cld.sources.reference`; also where the prior is far from the
        posterior, as a variational reference).
    :param int num_steps: Langevin steps of each replica per transition (default 2).
    :param float step_size: initial ``eta`` of every replica (adapted with ``adjust``).
    :param bool adjust: MALA (default) or ULA moves.
    :param float target_accept_prob: target of each replica's step-size adaptation.
    :param init_strategy: NumPyro per-site initialisation strategy.
    """

    def __init__(
        self,
        model: Callable | None = None,
        *,
        potential_fn: Callable | None = None,
        betas: Any = 8,
        reference: str = "auto",
        num_steps: int = 2,
        step_size: float = 0.1,
        adjust: bool = True,
        target_accept_prob: float = 0.574,
        init_strategy: Callable = init_to_uniform,
    ):
        self._reference_arg = one_of("reference", reference, ("auto", "prior", "gaussian"))
        if model is None and potential_fn is None:
            raise ValueError(
                "TemperedLangevin needs a `model` or a `potential_fn` (its swaps compare "
                "densities)."
            )
        super().__init__(model, potential_fn=potential_fn, init_strategy=init_strategy)
        self._ladder_arg, self._sized = ladder_arg(betas)
        self._ladder = self._ladder_arg
        self._num_steps = positive_int("num_steps", num_steps)
        self._step_size = positive_float("step_size", step_size)
        self._adjust = flag("adjust", adjust)
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
        self._reference = None

    def _resolve(self, model_args, model_kwargs, one_params):
        self._reference = tempered_reference(self._site_trace, self._reference_arg)[0]
        self._ladder, self.pilot = self._ladder_arg, None
        if self._sized:
            path = tempered_path(self, self._reference, model_args, model_kwargs)
            self.pilot = pilot_or_none(self, path, self._local_for, one_params, self._num_steps)
            if self.pilot is not None:
                self._ladder = (self.pilot[0], True)

    @property
    def reference(self) -> str | None:
        """The reference in use, ``"prior"`` or ``"gaussian"`` (fitted in warmup), known after
        ``init``."""
        return self._reference

    def _local_for(self, num_warmup):
        return mala_local(self, self._step_size, self._num_steps, num_warmup)

    def _local(self, potential_and_score):
        return self._local_for(self._num_warmup)(potential_and_score)

    def _sampler(self, model_args, model_kwargs):
        path = tempered_path(self, self._reference, model_args, model_kwargs)
        return tempered_sampler(
            path, self._local, self._ladder, make_target=self._local, num_warmup=self._num_warmup
        )

    def refresh(self, state, model_args, model_kwargs):
        return refresh_tempered(self, self._reference, state, model_args, model_kwargs)

    def get_diagnostics_str(self, state):
        return progress_line(state)


def refresh_tempered(kernel: LangevinBase, reference, state, model_args, model_kwargs):
    """``kernel.refresh`` of a replica-exchange state (on pytrees), for either kernel."""
    path = tempered_path(kernel, reference, model_args, model_kwargs)
    new = tempered_refresh(path, flat_state(state))
    return kernel._as_tree(new)._replace(rng_key=state.rng_key)
