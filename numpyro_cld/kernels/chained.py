"""Chained Langevin dynamics (Cheng, Fu, Farnia): patch-by-patch sweeps as a NumPyro kernel."""

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random
from jax.flatten_util import ravel_pytree

from numpyro.infer.hmc_util import dual_averaging
from numpyro.infer.initialization import init_to_uniform

from .._validate import one_of, open_unit, positive_float, positive_int
from ..prefix import PrefixSource
from ..prefix_sources import NotExactError, PotentialPrefix, latent_sites, model_prefix
from ..schedules import check_sigmas, ncsn_step_sizes
from ..step import StepState, langevin_steps
from .base import LangevinBase

CONDITIONALS = ("auto", "prefix", "full")
ORDERS = ("sequential", "random")


class ChainedState(NamedTuple):
    """State of :class:`ChainedLangevin`.

    - **i** - sweep counter; reset to 0 after warmup.
    - **z** - latent values (unconstrained) after the sweep.
    - **potential_energy** - ``U(z)`` of the full target (0 for a kernel built from
      ``score_fn``).
    - **z_grad** - ``grad U(z)`` of the full target, with the structure of ``z``.
    - **accept_prob** - mean Metropolis acceptance probability over all patch steps of the
      sweep (1 for unadjusted steps, 0 for a step with a numerical fault).
    - **mean_accept_prob** - running mean of ``accept_prob`` over warmup or sampling.
    - **diverging** - whether any step of the sweep met a non-finite position, potential
      or score (the faulty proposal was not taken).
    - **num_diverging** - how many steps of the sweep were faults.
    - **step_scale** - ``(P,)`` per-patch multipliers of the step size, adapted during
      warmup by dual averaging when ``adjust=True`` (all 1 otherwise).
    - **da_state** - per-patch dual-averaging state ``(x, x_avg, g_avg, t, prox_center)``
      of ``log step_scale``.
    - **rng_key** - PRNG key for the next sweep.
    """

    i: Any
    z: Any
    potential_energy: Any
    z_grad: Any
    accept_prob: Any
    mean_accept_prob: Any
    diverging: Any
    num_diverging: Any
    step_scale: Any
    da_state: Any
    rng_key: Any


class ChainedLangevin(LangevinBase):
    r"""Chained Langevin dynamics: one transition is a sweep over patches of the latent vector.

    The latent vector (unconstrained, in *site order*: the model's sample statements in
    order, each site raveled; for ``potential_fn``/``score_fn`` the raveled ``init_params``)
    is split into ``ceil(d / patch_size)`` patches of ``patch_size`` coordinates; the last
    patch is smaller when ``patch_size`` does not divide ``d``. ``blocks`` gives explicit
    patches instead. Patch ``i`` gets ``steps_per_patch`` Langevin steps (the update of
    :func:`numpyro_cld.step.langevin_step`), or, with ``sigmas``, ``steps_per_patch`` steps at
    each noise level ``sigma_1 > ... > sigma_L`` with ``eta_l = eps sigma_l^2 / sigma_L^2``
    (the paper's Chained-ALD), the noise smoothing the current patch only.

    ``conditional="prefix"`` (the paper's Chained-LD) moves patch ``i`` with the score of
    ``p(x_i | x_<i)``, later patches integrated out. If each patch reaches its conditional,
    a sweep returns an exact draw of ``p`` whatever it started from, so it is what finds
    modes; with finitely many steps per patch the sweep is approximate (ULA bias, and
    incomplete mixing within the patch; ``adjust=True`` removes the first only). Prefix
    conditionals come from ``prefix_source`` (any :class:`numpyro_cld.prefix.PrefixSource`,
    e.g. a learned autoregressive network), from ``prefix_potential``, or straight from the
    model when they are exact (see :mod:`numpyro_cld.prefix_sources`).

    ``conditional="full"`` moves patch ``i`` with the score of ``p(x_i | x_-i) ∝ p(x)``. With
    ``adjust=True`` each step is a MALA step on the conditional: Metropolis-within-Gibbs,
    exactly invariant for any model (observed sites included). It is as mode-seeking as
    vanilla Langevin (``docs/chained.md`` gives the figures). ``"auto"`` uses the prefix
    sweep when exact prefix conditionals are available and the full sweep otherwise, with
    a warning.

    **References:**

    1. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia
    2. *Generative Modeling by Estimating Gradients of the Data Distribution*, Y. Song,
       S. Ermon (2019)

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: ``z -> grad log p(z)`` (no density; ULA only).
    :param prefix_source: a prefix source (``init_context``, ``advance``,
        ``potential_and_score``, ``has_density``) over the same coordinates and patches.
    :param prefix_potential: ``f(x, n) = -log p(x_{<n})`` on the flat latent vector in site
        order; coordinates from ``n`` on must not change the value.
    :param int patch_size: coordinates per patch (default 1).
    :param str conditional: ``"auto"``, ``"prefix"`` or ``"full"``.
    :param int steps_per_patch: Langevin steps per patch (per noise level with ``sigmas``).
    :param float step_size: ``eta`` without ``sigmas``.
    :param sigmas: decreasing noise levels for Chained-ALD (prefix sweep only).
    :param float eps: base step of the annealed schedule, ``eta_l = eps sigma_l^2/sigma_L^2``.
    :param bool adjust: Metropolis-Hastings test for each patch step (MALA).
    :param str order: ``"sequential"`` or ``"random"`` (a fresh patch order every sweep;
        full sweep only, since the prefix sweep needs the coordinate order).
    :param blocks: explicit patches: a list of site names or of integer index groups (site
        order) covering every coordinate exactly once; for the prefix sweep they must be
        consecutive ranges in order.
    :param bool adapt_step_size: with ``adjust=True``, per-patch dual averaging of the step
        size to ``target_accept_prob`` during warmup.
    :param float target_accept_prob: target of the adaptation.
    :param init_strategy: NumPyro per-site initialisation strategy.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import ChainedLangevin
        >>> def model():  # two modes 2 sqrt(50) = 14 standard deviations apart
        ...     mix = dist.Categorical(probs=jnp.array([0.5, 0.5]))
        ...     comp = dist.Normal(jnp.array([[-1.0] * 50, [1.0] * 50]), 1.0).to_event(1)
        ...     numpyro.sample("x", dist.MixtureSameFamily(mix, comp))
        >>> mcmc = MCMC(ChainedLangevin(model, patch_size=2), num_warmup=50,
        ...             num_samples=400, progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> frac = float((mcmc.get_samples()["x"].mean(-1) > 0).mean())
        >>> 0.3 < frac < 0.7
        True
    """

    def __init__(self, model=None, *, potential_fn=None, score_fn=None, prefix_source=None,
                 prefix_potential=None, patch_size=1, conditional="auto", steps_per_patch=20,
                 step_size=0.1, sigmas=None, eps=2e-5, adjust=False, order="sequential",
                 blocks=None, adapt_step_size=True, target_accept_prob=0.574,
                 init_strategy=init_to_uniform):
        super().__init__(model, potential_fn=potential_fn, score_fn=score_fn,
                         init_strategy=init_strategy)
        self._patch_size = positive_int("patch_size", patch_size)
        self._conditional = one_of("conditional", conditional, CONDITIONALS)
        self._order = one_of("order", order, ORDERS)
        self._steps_per_patch = positive_int("steps_per_patch", steps_per_patch)
        self._step_size = positive_float("step_size", step_size)
        self._eps = positive_float("eps", eps)
        self._sigmas = None if sigmas is None else check_sigmas(sigmas)
        self._adjust = bool(adjust)
        self._adapt_step_size = bool(adapt_step_size) and self._adjust
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
        if prefix_source is not None and prefix_potential is not None:
            raise ValueError("Give at most one of `prefix_source` and `prefix_potential`.")
        if prefix_source is not None and not isinstance(prefix_source, PrefixSource):
            raise TypeError(
                "`prefix_source` must follow numpyro_cld.prefix.PrefixSource (init_context, "
                f"advance, potential_and_score, has_density); got {type(prefix_source).__name__}.")
        if prefix_potential is not None and not callable(prefix_potential):
            raise TypeError("`prefix_potential` must be callable f(x, n) -> -log p(x_<n).")
        self._prefix_source = prefix_source
        self._prefix_potential = prefix_potential
        user_prefix = prefix_source is not None or prefix_potential is not None
        if self._conditional == "full" and user_prefix:
            raise ValueError("`conditional='full'` does not use `prefix_source` or "
                             "`prefix_potential`; use conditional='prefix' or drop them.")
        if self._conditional == "full" and self._sigmas is not None:
            raise ValueError("`sigmas` (Chained-ALD) needs conditional='prefix': the full "
                             "conditional has no exact smoothed score; use AnnealedLangevin.")
        if self._order == "random" and self._conditional == "prefix":
            raise ValueError("`order='random'` needs conditional='full': the prefix sweep "
                             "must visit the patches in coordinate order.")
        if self._adjust and score_fn is not None and prefix_source is None:
            raise ValueError("`adjust=True` needs a density for the Metropolis test, but only "
                             "`score_fn` was given; pass `model` or `potential_fn`.")
        if self._adjust and prefix_source is not None and not prefix_source.has_density:
            raise ValueError("`adjust=True` needs a prefix source with a density "
                             "(`has_density=True`); this one has none.")
        if blocks is not None:
            if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__len__") \
                    or len(blocks) == 0:
                raise TypeError("`blocks` must be a non-empty list of site names or of "
                                "integer index groups.")
        self._blocks = blocks
        self._layout = None

    # -- layout -------------------------------------------------------------------------
    def _resolve(self, model_args, model_kwargs, one_params):
        """Fix coordinates, patches and the conditional once the dimension is known."""
        flat, _ = ravel_pytree(one_params)
        dim = flat.shape[0]
        if self._model is not None:
            from ..prefix_sources import _prototype
            tr = _prototype(self._model, model_args, model_kwargs)
            sites = latent_sites(tr)
            ids = {s.name: s.offset + np.arange(s.size).reshape(s.shape) for s in sites}
            order = np.asarray(ravel_pytree({k: jnp.asarray(v) for k, v in ids.items()})[0])
            perm = np.argsort(order).astype(np.int32)  # site-order j -> raveled position
        else:
            sites, perm = None, np.arange(dim, dtype=np.int32)
        patches = self._patches(dim, sites)
        starts = [int(p[0]) for p in patches]
        contiguous = all(np.array_equal(p, np.arange(p[0], p[0] + len(p))) for p in patches) \
            and starts == sorted(starts)
        conditional, prefix_kind = self._conditional, None
        if conditional in ("auto", "prefix"):
            reason = None
            if not contiguous:
                reason = "the blocks are not consecutive ranges in coordinate order"
            elif self._prefix_source is not None:
                prefix_kind = "user"
                ps = getattr(self._prefix_source, "patch_size", None)
                if ps is not None and self._blocks is None and ps != self._patch_size:
                    raise ValueError(f"`prefix_source` was built for patch_size {ps}, but the "
                                     f"kernel has `patch_size`={self._patch_size}.")
            elif self._prefix_potential is not None:
                prefix_kind = "potential"
            elif self._model is not None:
                try:
                    _, prefix_kind = model_prefix(self._model, model_args, model_kwargs,
                                                  starts=starts)
                except NotExactError as e:
                    reason = str(e)
            else:
                reason = ("the target is given as a `potential_fn`/`score_fn`, which says "
                          "nothing about marginals")
            if reason is not None:
                if conditional == "prefix" or self._sigmas is not None:
                    raise ValueError(
                        f"conditional='prefix' needs exact prefix marginals, but {reason}. Use "
                        "conditional='full' (exact Metropolis-within-Gibbs with adjust=True, "
                        "not mode-finding) or pass a `prefix_potential`/`prefix_source`.")
                warnings.warn(
                    f"ChainedLangevin: no exact prefix conditionals ({reason}); using the "
                    "full-conditional sweep, which is exact with adjust=True but as "
                    "mode-seeking as vanilla Langevin.", UserWarning, stacklevel=4)
                conditional = "full"
            else:
                conditional = "prefix"
                if self._order == "random":
                    raise ValueError("`order='random'` needs conditional='full': the prefix "
                                     "sweep must visit the patches in coordinate order.")
        if self._sigmas is not None and prefix_kind == "masked":
            raise ValueError(
                "`sigmas` needs a smoothed prefix conditional, available in closed form for a "
                "single Gaussian or Gaussian-mixture site (or from a `prefix_source`); this "
                "model's prefix marginals are exact only unsmoothed. Drop `sigmas`.")
        if self._sigmas is not None and prefix_kind == "potential":
            raise ValueError("`sigmas` cannot be used with `prefix_potential` (no smoothed "
                             "score); pass a `prefix_source` or drop `sigmas`.")
        self._layout = dict(dim=dim, perm=perm, patches=patches, starts=starts,
                            conditional=conditional, prefix_kind=prefix_kind,
                            equal=self._blocks is None)

    def _patches(self, dim, sites):
        if self._blocks is None:
            if self._patch_size > dim:
                raise ValueError(f"`patch_size`={self._patch_size} is larger than the latent "
                                 f"dimension {dim}.")
            return [np.arange(s, min(s + self._patch_size, dim)) for s in
                    range(0, dim, self._patch_size)]
        by_name = {s.name: s for s in sites} if sites is not None else {}
        groups = []
        for b in self._blocks:
            if isinstance(b, str):
                if b not in by_name:
                    raise ValueError(f"`blocks`: unknown latent site '{b}'; latent sites are "
                                     f"{list(by_name)}.")
                s = by_name[b]
                groups.append(np.arange(s.offset, s.offset + s.size))
            else:
                g = np.asarray(b)
                if g.ndim != 1 or g.size == 0 or not np.issubdtype(g.dtype, np.integer):
                    raise TypeError("`blocks` entries must be site names or non-empty 1-d "
                                    f"integer index groups, got {b!r}.")
                groups.append(g.astype(np.int64))
        allidx = np.concatenate(groups)
        if np.any(allidx < 0) or np.any(allidx >= dim):
            raise ValueError(f"`blocks` has indices outside 0..{dim - 1} (latent dimension "
                             f"{dim}).")
        counts = np.bincount(allidx, minlength=dim)
        if np.any(counts > 1):
            twice = np.flatnonzero(counts > 1)[:10].tolist()
            raise ValueError(f"`blocks` overlap: coordinates {twice} appear in more than one "
                             "block.")
        if np.any(counts == 0):
            missed = np.flatnonzero(counts == 0)[:10].tolist()
            raise ValueError(f"`blocks` miss coordinates {missed} of the latent dimension "
                             f"{dim}.")
        return groups

    # -- sources ------------------------------------------------------------------------
    def _prefix(self, model_args, model_kwargs):
        kind = self._layout["prefix_kind"]
        if kind == "user":
            return self._prefix_source
        starts = self._layout["starts"]
        if kind == "potential":
            return PotentialPrefix(self._prefix_potential, self._layout["dim"], starts=starts)
        return model_prefix(self._model, model_args, model_kwargs, starts=starts)[0]

    def _initial_params(self, key, init_params, model_args, model_kwargs, vectorized):
        params = super()._initial_params(key, init_params, model_args, model_kwargs,
                                         vectorized)
        one = jax.tree.map(lambda a: a[0], params) if vectorized else params
        # the layout is static (NumPy); `init` may run under jit/vmap (e.g. SBC harnesses)
        with jax.ensure_compile_time_eval():
            self._resolve(model_args, model_kwargs or {}, one)
        return params

    @property
    def conditional(self):
        """The sweep in use (``"prefix"`` or ``"full"``), known after ``init``."""
        return None if self._layout is None else self._layout["conditional"]

    @property
    def num_patches(self):
        return None if self._layout is None else len(self._layout["patches"])

    def get_diagnostics_str(self, state):
        return "mean step scale {:.2e}. acc. prob={:.2f}".format(
            jnp.mean(state.step_scale), state.mean_accept_prob)

    # -- one chain ----------------------------------------------------------------------
    def _init_one(self, rng_key, init_params, model_args, model_kwargs):
        rng_key, key_src = random.split(rng_key)
        x = ravel_pytree(init_params)[0]
        pe, score = self._source(model_args, model_kwargs)(x, key_src)
        num_patches = len(self._layout["patches"])
        dtype = jnp.result_type(x)
        scale = jnp.ones((num_patches,), dtype)
        # prox centre log(10 * 1) as in NumPyro's step-size adaptation
        da = (jnp.zeros_like(scale), jnp.zeros_like(scale), jnp.zeros_like(scale),
              jnp.array(0, jnp.int32), jnp.full_like(scale, np.log(10.0)))
        zero = jnp.zeros((), dtype)
        return ChainedState(jnp.array(0), init_params, pe, self._unravel_fn(-score), zero, zero,
                            jnp.array(False), jnp.array(0, jnp.int32), scale, da, rng_key)

    def _levels(self, dtype):
        if self._sigmas is None:
            return jnp.zeros((1,), dtype), jnp.full((1,), self._step_size, dtype)
        sig = self._sigmas.astype(dtype)
        return sig, ncsn_step_sizes(self._eps, sig).astype(dtype)

    def _sweep(self, key, x, step_scale, model_args, model_kwargs):
        lay = self._layout
        sigmas, etas = self._levels(jnp.result_type(x))
        perm = jnp.asarray(lay["perm"])
        patches = [perm[jnp.asarray(p)] for p in lay["patches"]]  # raveled positions
        num = len(patches)
        prefix = lay["conditional"] == "prefix"
        if prefix:
            src = self._prefix(model_args, model_kwargs)
            ctxs = jax.vmap(src.init_context)(sigmas)
        else:
            full = self._source(model_args, model_kwargs)
            ctxs = jnp.zeros((sigmas.shape[0],))

        def patch_step(carry, i, idx):
            x, ctxs, key = carry
            key, key_patch = random.split(key)
            xp = x[idx]
            if prefix:
                def make_source(ctx, sigma):
                    return lambda v, k: src.potential_and_score(ctx, i, v, sigma)
            else:
                def make_source(ctx, sigma):
                    def fn(v, k):
                        pe, s = full(x.at[idx].set(v), k)
                        return pe, s[idx]
                    return fn
            def level_fn(c, inp):
                xp_, k = c
                eta, sigma, ctx = inp
                k, k_init, k_steps = random.split(k, 3)
                fn = make_source(ctx, sigma)
                st = StepState(xp_, *fn(xp_, k_init))
                st, info = langevin_steps(k_steps, st, fn, eta * step_scale[i],
                                          adjust=self._adjust, num_steps=self._steps_per_patch)
                return (st.x, k), (info.accept_prob, info.num_diverging)

            (xp, _), (acc, ndiv) = lax.scan(level_fn, (xp, key_patch), (etas, sigmas, ctxs))
            if prefix:
                ctxs = jax.vmap(lambda c, s: src.advance(c, i, xp, s))(ctxs, sigmas)
            x = x.at[idx].set(xp)
            return (x, ctxs, key), (jnp.mean(acc), jnp.sum(ndiv, dtype=jnp.int32))

        carry = (x, ctxs, key)
        acc, ndiv = [], []
        if lay["equal"]:
            ps = len(patches[0])
            n_eq = lay["dim"] // ps
            idx_eq = jnp.stack(patches[:n_eq])
            ids = jnp.arange(n_eq)
            if self._order == "random":
                key, key_perm = random.split(carry[2])
                carry = (carry[0], carry[1], key)
                ids = random.permutation(key_perm, ids)
                idx_eq = idx_eq[ids]
            carry, (a, n) = lax.scan(lambda c, inp: patch_step(c, inp[0], inp[1]), carry,
                                     (ids, idx_eq))
            acc.append(jnp.zeros_like(a).at[ids].set(a))  # back to patch order
            ndiv.append(n)
            if n_eq < num:  # the smaller last patch
                carry, (a, n) = patch_step(carry, jnp.asarray(n_eq), patches[n_eq])
                acc.append(a[None])
                ndiv.append(n[None])
        else:
            if self._order == "random":
                key, key_perm = random.split(carry[2])
                carry = (carry[0], carry[1], key)
                perm_b = random.permutation(key_perm, num)
                branches = [lambda c, ii=ii: patch_step(c, jnp.asarray(ii), patches[ii])
                            for ii in range(num)]
                acc_b = jnp.zeros((num,), jnp.result_type(x))
                for j in range(num):  # blocks differ in size: switch on the permuted id
                    carry, (a, n) = lax.switch(perm_b[j], branches, carry)
                    acc_b = acc_b.at[perm_b[j]].set(a)
                    ndiv.append(n[None])
                acc = [acc_b]
            else:
                for ii in range(num):
                    carry, (a, n) = patch_step(carry, jnp.asarray(ii), patches[ii])
                    acc.append(a[None])
                    ndiv.append(n[None])
        x = carry[0]
        return x, jnp.concatenate(acc), jnp.sum(jnp.concatenate(ndiv), dtype=jnp.int32)

    def _sample_one(self, state, model_args, model_kwargs):
        rng_key, key_sweep, key_src = random.split(state.rng_key, 3)
        x0 = ravel_pytree(state.z)[0]
        x, acc_patch, ndiv = self._sweep(key_sweep, x0, state.step_scale, model_args,
                                         model_kwargs)
        pe, score = self._source(model_args, model_kwargs)(x, key_src)
        step_scale, da = state.step_scale, state.da_state
        if self._adapt_step_size:
            _, da_update = dual_averaging()
            warm = state.i < self._num_warmup
            new_da = da_update(self._target_accept_prob - acc_patch, da)
            last = state.i == self._num_warmup - 1
            new_scale = jnp.exp(jnp.where(last, new_da[1], new_da[0]))
            step_scale = jnp.where(warm, new_scale, step_scale)
            da = jax.tree.map(lambda a, b: jnp.where(warm, a, b), new_da, da)
        accept_prob = jnp.mean(acc_patch)
        mean_accept_prob = self._mean_accept_prob(state, accept_prob)
        return ChainedState(state.i + 1, self._unravel_fn(x), pe, self._unravel_fn(-score),
                            accept_prob, mean_accept_prob, ndiv > 0, ndiv.astype(jnp.int32),
                            step_scale, da, rng_key)
