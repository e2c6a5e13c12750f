"""What the kernels check of the values they are given and of the states they resume: the
latent values as one vector, a state's layout, a finite start, the same model arguments."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..samplers.state import LangevinState


def discrete_latent_sites(tr):
    return [
        name
        for name, site in tr.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and getattr(site["fn"], "is_discrete", False)
        and site["infer"].get("enumerate") != "parallel"
    ]


def same_args(a, b) -> bool:
    """The same model arguments: the same objects leaf by leaf (NumPyro passes the run's
    arguments again, in containers that need not be the same objects)."""
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    return tree_a == tree_b and all(x is y for x, y in zip(leaves_a, leaves_b, strict=True))


def check_like(name, params, prototype):
    """``params`` must have the structure and shapes of ``prototype``."""
    if layout(params) != layout(prototype):
        raise ValueError(
            f"`{name}` has the wrong structure or shape: expected "
            f"{jax.tree.map(jnp.shape, prototype)}, got {jax.tree.map(jnp.shape, params)}."
        )


def check_real(name, params) -> None:
    """Every leaf of ``params`` must be a real (integer or floating) array: a string or a
    complex start fails deep inside JAX otherwise. Tracers pass (their dtype is known)."""
    for leaf in jax.tree.leaves(params):
        try:
            dtype = jnp.result_type(leaf)
        except TypeError:
            dtype = None
        if dtype is None or not (
            jnp.issubdtype(dtype, jnp.floating)
            or jnp.issubdtype(dtype, jnp.integer)
            or jnp.issubdtype(dtype, jnp.bool_)
        ):
            got = f"dtype {dtype}" if dtype is not None else f"{type(leaf).__name__} {leaf!r:.60}"
            raise TypeError(f"`{name}` must hold real numbers (arrays of floats), got {got}.")


def check_key_batch(rng_key, kernel: str) -> None:
    """An ``rng_key`` that is not one PRNG key must be a batch of them (one per chain), as
    NumPyro's ``MCMC`` passes for vectorised chains."""
    shape = jnp.shape(rng_key)
    try:
        dtype = jnp.result_type(rng_key)
    except TypeError:
        dtype = None
    typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and len(shape) == 2 and shape[-1] == 2
    if not ((typed and len(shape) == 1) or raw):
        raise TypeError(
            f"{kernel}: `rng_key` must be a JAX PRNG key (jax.random.key(seed) or "
            f"jax.random.PRNGKey(seed)), or one per chain, got {type(rng_key).__name__} "
            f"{rng_key!r:.60}."
        )


def flat_vector(tree) -> jax.Array:
    """The latent values as one vector. A model without latent coordinates ravels to
    float32 even under x64; it gets the default float type, so that the step size's dtype
    does not change the scan carry."""
    x = ravel_pytree(tree)[0]
    return x.astype(jnp.result_type(float)) if x.size == 0 else x


def layout(state):
    """A pytree's tree structure and leaf shapes: what `init_params` must share with the
    model's latent sites, and a state with the state it resumes."""
    leaves, treedef = jax.tree.flatten(state)
    return treedef, [tuple(jnp.shape(a)) for a in leaves]


def mismatch(state, kernel) -> str:
    got = f"{type(state).__name__}({type(getattr(state, 'adapt_state', None)).__name__})"
    treedef, shapes = kernel._state_layout
    want = jax.tree.unflatten(treedef, shapes)
    expected = f"{type(want).__name__}({type(getattr(want, 'adapt_state', None)).__name__})"
    if got != expected:
        return f"expected a {expected}, got a {got}"
    # the iteration counter `i` is () for one chain and (C,) for C vectorised chains
    have, need = tuple(jnp.shape(state.i)), tuple(want.i)  # `want` holds leaf shapes
    if have != need:
        return (
            f"it holds {have[0] if have else 1} chain(s), but this run has "
            f"num_chains={need[0] if need else 1} (set `num_chains` to the chain count of the "
            "run that made `post_warmup_state`, or drop `post_warmup_state` to start afresh)"
        )
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(state)[0], shapes, strict=False):
        if tuple(jnp.shape(a)) != b:
            where = jax.tree_util.keystr(path)
            return f"its field {where} has shape {tuple(jnp.shape(a))}, expected {b}"
    return "its fields are laid out differently"


def check_start(state, kernel: str) -> None:
    """The start of every chain must be finite with a finite potential and score: a chain
    started elsewhere would keep its start in every draw (no proposal from it is finite).
    Skipped when ``init`` runs under a trace (``pmap``, the user's ``jit``)."""
    leaves = jax.tree.leaves((state.z, state.potential_energy, state.z_grad))
    if any(isinstance(a, jax.core.Tracer) for a in leaves):
        return
    checks = (
        (state.z, "`init_params` must be finite, but chain(s) {} start at NaN or inf"),
        (state.potential_energy, "the potential at `init_params` is not finite for chain(s) {}: "
         "start inside the support of the target"),
        (state.z_grad, "the score (gradient of the log density) at `init_params` is not "
         "finite for chain(s) {}: check `score_fn`/`potential_fn` and the start"),
    )  # fmt: skip
    for value, message in checks:
        arrays = [np.asarray(a) for a in jax.tree.leaves(value)]
        lead = np.shape(state.potential_energy)  # () for one chain, (C,) vectorised
        bad = np.zeros(lead, bool)
        for a in arrays:
            bad |= ~np.isfinite(a.reshape(lead + (-1,))).all(-1)
        if bad.any():
            chains = np.flatnonzero(np.atleast_1d(bad)).tolist()
            raise ValueError(f"{kernel}: " + message.format(chains) + ".")


MOVE_SIGMAS = 6.0
"""A Gaussian noise draw exceeds this many standard deviations with probability ~2e-9."""


def check_moves(state, fixed, kernel: str) -> None:
    """Refuse a step size too small to move the start of any chain in its dtype.

    ``fixed = (eta, m)``: the largest step size that no warmup adapts and the largest
    inverse-mass entry (None: the step size adapts; nothing to check). A Langevin step moves
    coordinate ``j`` by ``eta m s_j + sqrt(2 eta m) xi_j``; where that is below half the
    floating-point spacing of ``x_j`` for every coordinate of every chain (``|xi| <= 6``),
    the sum rounds back to ``x``: every draw would equal the start. Skipped under a trace."""
    if fixed is None:
        return
    eta, m = fixed
    leaves = jax.tree.leaves((state.z, state.z_grad))
    if any(isinstance(a, jax.core.Tracer) for a in leaves + [eta, m]):
        return
    eta, m = float(eta), float(m)
    zs, gs = jax.tree.leaves(state.z), jax.tree.leaves(state.z_grad)
    if not zs:
        return  # no latent coordinates: nothing moves
    half = np.concatenate(
        [np.ravel(np.spacing(np.abs(np.asarray(a))).astype(np.float64)) / 2 for a in zs]
    )
    drift = np.concatenate([np.ravel(np.abs(np.asarray(g, np.float64))) for g in gs]) * eta * m
    noise = MOVE_SIGMAS * math.sqrt(2 * eta * m)
    if half.size == 0 or not np.all(drift + noise < half):
        return
    # the step size at which the most movable coordinate moves by half a spacing
    need = float(np.min(half)) ** 2 / (2 * m * MOVE_SIGMAS**2)
    raise ValueError(
        f"{kernel}: `step_size` {eta:.3g} cannot move the chain: a Langevin step moves a "
        f"coordinate by about sqrt(2*step_size)={math.sqrt(2 * eta * m):.2g}, below half the "
        f"{np.asarray(zs[0]).dtype} spacing of every coordinate of the start (at least "
        f"{float(np.min(half)):.2g}), so every draw would equal the start. Use a step size "
        f"well above {need:.2g}, or let warmup adapt it (adjust=True, adapt_step_size=True, "
        "num_warmup > 0)."
    )


def flat_state(state):
    """A kernel's state (latent values as pytrees) as its sampler's (flat vectors)."""
    return LangevinState(*state)._replace(z=flat_vector(state.z), z_grad=flat_vector(state.z_grad))
