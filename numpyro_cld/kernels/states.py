"""What the kernels check of the values they are given and of the states they resume: the
latent values as one vector, a state's layout, a finite start, the same model arguments."""

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


def flat_state(state):
    """A kernel's state (latent values as pytrees) as its sampler's (flat vectors)."""
    return LangevinState(*state)._replace(z=flat_vector(state.z), z_grad=flat_vector(state.z_grad))
