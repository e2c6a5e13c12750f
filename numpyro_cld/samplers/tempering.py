"""Functional core of replica exchange over likelihood powers, anchored at exact prior draws.

A posterior ``p(z | y) ~ p0(z) L(z)`` is sampled together with the tempered laws
``p_b(z) ~ p0(z) L(z)^b`` for a ladder ``0 < b_1 < ... < b_n = 1``, one replica per power.
Each transition moves every replica by a local sampler for its own law (any ``(init, step)``
pair of this package, built by ``make_local`` from the tempered potential), draws the
``b = 0`` replica exactly from the prior (no gradient), then proposes to swap the replicas
of neighbouring powers, with the non-reversible even/odd schedule of Syed et al. (2022):
pairs ``(j, j + 1)`` with ``j`` of the transition's parity, each accepted with probability
``min(1, exp((b_{j+1} - b_j)(log L(z_j) - log L(z_{j+1}))))``. Every move leaves the product
of the tempered laws invariant, so the ``b = 1`` replica is an exact posterior chain, and a
prior draw that lands in a mode the posterior chain never visited can climb the ladder into it.

Where there is no prior to draw (an improper prior, a ``potential_fn``), the reference is a
Gaussian ``q`` fitted in warmup and the laws are ``q^(1 - b) pi^b``
(:class:`~numpyro_cld.sources.tempered.TemperingPath`); ``log L`` is then ``log pi - log q``.
After warmup the stepping-stone terms ``E_{p_{b_j}} exp((b_{j+1} - b_j) log L)`` accumulate,
whose logs sum to the log evidence (Xie, Lewis, Fan, Kuo & Chen 2011).

References:

- Geyer (1991), *Markov chain Monte Carlo maximum likelihood*; Hukushima & Nemoto (1996),
  *Exchange Monte Carlo method and application to spin glass simulations*.
- Syed, Bouchard-Cote, Deligiannidis & Doucet (2022), *Non-reversible parallel tempering: a
  scalable highly parallel MCMC scheme*, JRSS B (the even/odd swap schedule and the ladder
  adaptation by equalised rejection rates).
- Surjanovic, Syed, Bouchard-Cote & Campbell (2022), *Parallel tempering with a variational
  reference*, NeurIPS.
- Xie, Lewis, Fan, Kuo & Chen (2011), *Improving marginal likelihood estimation for Bayesian
  phylogenetic model selection*, Systematic Biology (stepping-stone sampling).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random

from ..sources.tempered import TemperingPath
from .state import LangevinState, chain_dtype, start_position

__all__ = ["TemperedAdaptState", "equalised_betas", "replica_exchange"]

MIN_WARMUP_TO_ADAPT = 40


class TemperedAdaptState(NamedTuple):
    """What :func:`replica_exchange` carries besides the posterior replica (the
    ``adapt_state`` of its :class:`~numpyro_cld.samplers.LangevinState`, whose other fields
    are those of the ``b = 1`` replica).

    - **hot** - the local states (:class:`~numpyro_cld.samplers.LangevinState`) of the
      replicas of the powers strictly between 0 and 1, batched over them (None without);
      their own faults are in ``hot.diverging`` (a hot replica's fault is a rejected
      proposal of a law the chain does not report).
    - **target_adapt** - the ``adapt_state`` of the posterior replica's local sampler.
    - **prior_z** - ``(d,)`` the ``b = 0`` replica, an exact draw of the reference.
    - **log_likelihood** - ``(n + 1,)`` ``log pi - log q`` of every replica (the
      log-likelihood when the reference ``q`` is the prior), the reference's first.
    - **betas** - ``(n + 1,)`` the ladder, ``0`` first and ``1`` last (adapted in warmup).
    - **swap_accept_prob** - ``(n,)`` swap acceptance probability of each neighbouring pair
      at this transition (0 for the pairs of the other parity).
    - **swap_accept_sum**, **num_proposed** - ``(n,)`` sum of each pair's acceptance
      probabilities and number of its proposals, since the end of warmup (in warmup, since
      the last ladder adaptation); their ratio is the pair's mean swap acceptance.
    - **jumped** - whether a swap replaced the posterior replica this transition (a mode
      jump when the two replicas sat in different modes).
    - **reference** - the reference's parameters (``()`` for the prior; a
      :class:`~numpyro_cld.sources.reference.GaussianReference` when fitted in warmup).
    - **moments** - ``(count, sum, sum of squares)`` of the replicas of powers in ``(0, 1]``
      since the last refit of the reference (warmup only).
    - **log_ratio_sum** - ``(n,)`` ``log sum_t exp((b_{j+1} - b_j) log_likelihood_j)`` over
      the transitions after warmup: the stepping-stone terms of the log evidence
      (:func:`numpyro_cld.diagnostics.log_evidence`).
    - **num_draws** - transitions after warmup summed in ``log_ratio_sum``.
    """

    hot: Any
    target_adapt: Any
    prior_z: Any
    log_likelihood: Any
    betas: Any
    swap_accept_prob: Any
    swap_accept_sum: Any
    num_proposed: Any
    jumped: Any
    reference: Any = ()
    moments: Any = ()
    log_ratio_sum: Any = ()
    num_draws: Any = ()

    @property
    def step_scale(self):
        """The posterior replica's per-patch step scales (chained local sampler)."""
        return self.target_adapt.step_scale


def equalised_betas(betas: jax.Array, rejection: jax.Array, num: int | None = None) -> jax.Array:
    """The ladder with the same end points on which the pairs' rejection rates are equal.

    Syed et al. (2022, section 5): the communication barrier ``Lambda(b)`` is estimated by the
    cumulative sum of the pairs' rejection rates, linear between the powers; the new powers
    are its equally spaced quantiles.

    :param betas: ``(n + 1,)`` increasing powers from 0 to 1.
    :param rejection: ``(n,)`` mean swap rejection rate of each neighbouring pair.
    :param int num: the number of powers of the new ladder, 0 and 1 included (default
        ``n + 1``).
    """
    lam = jnp.concatenate([jnp.zeros(1, betas.dtype), jnp.cumsum(rejection + 1e-3)])
    targets = jnp.linspace(0.0, lam[-1], betas.shape[0] if num is None else num)
    new = jnp.interp(targets, lam, betas)
    return new.at[0].set(0.0).at[-1].set(1.0)


def replica_exchange(
    make_local: Callable[[Callable], tuple[Callable, Callable]],
    path: TemperingPath,
    *,
    betas: jax.Array,
    make_target: Callable[[Callable], tuple[Callable, Callable]] | None = None,
    num_warmup: int = 0,
    adapt_betas: bool = True,
) -> tuple[Callable, Callable]:
    """Replica exchange as a pair of pure functions (``init``, ``step``), as
    :func:`~numpyro_cld.samplers.langevin`.

    :param make_local: ``potential_and_score -> (init, step)`` for the replicas of the powers
        between 0 and 1, e.g. ``lambda f: langevin(f, adjust=True, num_steps=2,
        num_warmup=500)``.
    :param path: the laws ``p_b ~ q^(1 - b) pi^b``
        (:class:`~numpyro_cld.sources.tempered.TemperingPath`): from the prior of a model
        (``tempered_model(model).path``) or from a Gaussian fitted in warmup
        (:func:`~numpyro_cld.sources.reference.gaussian_path`).
    :param betas: ``(n + 1,)`` initial ladder: ``0``, increasing, ``1``.
    :param make_target: the same for the posterior replica (default ``make_local``).
    :param int num_warmup: transitions of warmup (local adaptation; ladder adaptation with
        ``adapt_betas``, and the refit of a fitted reference, at a quarter and at half of
        it, when it is at least 40).
    :param bool adapt_betas: equalise the swap rejection rates in warmup
        (:func:`equalised_betas`).
    """
    betas = jnp.asarray(betas)
    # adapted in warmup and carried in the state: in the chains' float type from the start
    betas = betas.astype(chain_dtype(betas.dtype))
    n = betas.shape[0] - 1
    make_target = make_local if make_target is None else make_target
    fitted = path.fit_reference is not None
    # re-spaced from the swap rates of at least 10 transitions, so not in a short warmup
    adapting = (adapt_betas or fitted) and num_warmup >= MIN_WARMUP_TO_ADAPT
    retune = jnp.array([num_warmup // 4, num_warmup // 2]) if adapting else jnp.zeros(0, int)

    def bound(beta, ref):
        return lambda z, key=None: path.potential_and_score(z, beta, ref)

    def hot_map(fn, *args):  # fn(beta, *per-replica args) over the hot replicas
        return None if n == 1 else jax.vmap(fn)(*args)

    def init(position: jax.Array, rng_key: jax.Array) -> LangevinState:
        position = start_position(position)
        k_prior, k_hot, k_target = random.split(rng_key, 3)
        ref = path.init_reference(position)
        prior_z = path.reference_sample(k_prior, ref)
        # every replica starts at the user's start: a chain stuck in one mode is the case the
        # ladder exists for, and starting elsewhere would hide it
        hot = hot_map(
            lambda b, k: make_local(bound(b, ref))[0](position, k),
            betas[1:-1],
            random.split(k_hot, max(n - 1, 1))[: n - 1],
        )
        target = make_target(bound(1.0, ref))[0](position, k_target)
        z = _stack(prior_z, hot, target)
        zero = jnp.zeros(n, position.dtype)
        adapt = TemperedAdaptState(
            hot, target.adapt_state, prior_z, jax.vmap(lambda x: path.log_ratio(x, ref))(z),
            betas, zero, zero, jnp.zeros(n, jnp.int32), jnp.array(False), ref,
            _no_moments(position), jnp.full(n, -jnp.inf, position.dtype), jnp.array(0),
        )  # fmt: skip
        return target._replace(adapt_state=adapt)

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        k_hot, k_target, k_prior, k_swap = random.split(rng_key, 4)
        adapt = state.adapt_state
        bs, ref = adapt.betas, adapt.reference
        hot = hot_map(
            lambda b, k, s: make_local(bound(b, ref))[1](k, s),
            bs[1:-1],
            random.split(k_hot, max(n - 1, 1))[: n - 1],
            adapt.hot,
        )
        target = make_target(bound(1.0, ref))[1](
            k_target, state._replace(adapt_state=adapt.target_adapt)
        )
        retuning = jnp.any(state.i + 1 == retune)
        moments = adapt.moments
        if fitted:  # refit q at the retunes to the replicas since the last one
            moments = _add_moments(moments, _stack(adapt.prior_z, hot, target)[1:])
            ref = _select(retuning, path.fit_reference(ref, *_mean_var(moments)), ref)
            moments = _select(retuning, _no_moments(state.z), moments)
        z = _stack(path.reference_sample(k_prior, ref), hot, target)
        ll = jax.vmap(lambda x: path.log_ratio(x, ref))(z)
        # even/odd (non-reversible) swaps: pair j = (j, j + 1) proposed when j % 2 == i % 2
        log_a = (bs[1:] - bs[:-1]) * (ll[:-1] - ll[1:])
        # a replica with a non-finite value (e.g. a prior draw on a support's boundary in
        # float32) is never swapped in
        ok = jnp.all(jnp.isfinite(z), -1) & jnp.isfinite(ll)
        log_a = jnp.where(ok[:-1] & ok[1:] & ~jnp.isnan(log_a), log_a, -jnp.inf)
        proposed = jnp.arange(n) % 2 == state.i % 2
        accept_prob = jnp.where(proposed, jnp.exp(jnp.minimum(log_a, 0.0)), 0.0)
        swap = random.uniform(k_swap, (n,)) < accept_prob
        up = jnp.concatenate([swap, jnp.zeros(1, bool)])
        down = jnp.concatenate([jnp.zeros(1, bool), swap])
        perm = jnp.arange(n + 1) + up.astype(int) - down.astype(int)
        z, ll = z[perm], ll[perm]
        # acceptance means per pair over its proposals, restarted after warmup and retunes
        restart = (state.i == num_warmup) | jnp.any(state.i == retune)
        total = jnp.where(restart, 0.0, adapt.swap_accept_sum) + accept_prob
        count = jnp.where(restart, 0, adapt.num_proposed) + proposed
        mean = total / jnp.maximum(count, 1)
        bs = lax.cond(retuning & adapt_betas, lambda: equalised_betas(bs, 1.0 - mean), lambda: bs)
        ratio_sum, draws = _stepping_stones(adapt, state.i >= num_warmup, bs, ll)
        adapt = TemperedAdaptState(
            hot, target.adapt_state, z[0], ll, bs, accept_prob, total, count, swap[-1], ref,
            moments, ratio_sum, draws,
        )  # fmt: skip
        bound_now = lambda b: bound(b, ref)  # noqa: E731
        return refreshed(target._replace(z=z[-1], adapt_state=adapt), z, bound_now)

    return init, step


def _stepping_stones(adapt, after_warmup, betas, ll):
    """The running ``log sum exp((b_{j+1} - b_j) ll_j)`` per pair, from the first transition
    after warmup (each replica ``j`` is a draw of ``p_{b_j}``; Xie et al. 2011)."""
    terms = (betas[1:] - betas[:-1]) * ll[:-1]
    terms = jnp.where(jnp.isnan(terms), -jnp.inf, terms)
    new = jnp.logaddexp(adapt.log_ratio_sum, terms)
    return (
        jnp.where(after_warmup, new, adapt.log_ratio_sum),
        adapt.num_draws + after_warmup.astype(adapt.num_draws.dtype),
    )


def _no_moments(z):
    return (jnp.zeros((), z.dtype), jnp.zeros_like(z), jnp.zeros_like(z))


def _add_moments(moments, zs):
    count, total, squares = moments
    return count + zs.shape[0], total + zs.sum(0), squares + (zs**2).sum(0)


def _mean_var(moments):
    count, total, squares = moments
    mean = total / jnp.maximum(count, 1.0)
    return mean, jnp.maximum(squares / jnp.maximum(count, 1.0) - mean**2, 0.0)


def _select(pred, new, old):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def refreshed(state: LangevinState, z: jax.Array, bound: Callable) -> LangevinState:
    """``state`` with the replicas ``z`` (``(n + 1, d)``, prior first) in place and every
    cached potential and score recomputed at its replica's power (after swaps, a new ladder,
    or new model arguments). ``bound(beta)`` is the tempered ``potential_and_score``."""
    adapt = state.adapt_state
    hot = adapt.hot
    if hot is not None:
        pe, score = jax.vmap(lambda zz, b: bound(b)(zz))(z[1:-1], adapt.betas[1:-1])
        hot = hot._replace(z=z[1:-1], potential_energy=pe, z_grad=-score)
    pe, score = bound(1.0)(z[-1])
    return state._replace(
        z=z[-1], potential_energy=pe, z_grad=-score, adapt_state=adapt._replace(hot=hot)
    )


def _stack(prior_z, hot, target):
    parts = [prior_z[None]] + ([] if hot is None else [hot.z]) + [target.z[None]]
    return jnp.concatenate(parts)
