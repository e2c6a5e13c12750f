"""Score sources: where ``(potential, score)`` of a target comes from.

Every kernel moves a flat vector ``x`` and asks a *source* for ``(U(x), s(x))`` through one
small protocol, :data:`numpyro_cld.step.PotentialAndScore`: ``f(x, rng_key) -> (U, s)``.
A source without a density (a learned score) returns ``U = 0`` and cannot be used with
the Metropolis test. Annealed and chained kernels build their sources from the same
constructors with a noise level or a context closed over.
"""

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["from_potential", "from_score", "check_score_shape"]


def from_potential(potential_fn, unravel_fn):
    """Source for a potential ``U`` on pytrees: ``(U(x), -grad U(x))`` on flat ``x``."""

    def flat_potential(x):
        return potential_fn(unravel_fn(x))

    value_and_grad = jax.value_and_grad(flat_potential)

    def potential_and_score(x, rng_key=None):
        pe, grad = value_and_grad(x)
        return pe, -grad

    return potential_and_score


def from_score(score_fn, unravel_fn):
    """Source for a score function on pytrees (no density): ``(0, s(x))`` on flat ``x``."""

    def potential_and_score(x, rng_key=None):
        score = ravel_pytree(score_fn(unravel_fn(x)))[0]
        return jnp.zeros((), jnp.result_type(x)), score.astype(jnp.result_type(x))

    return potential_and_score


def check_score_shape(score_fn, params, name="score_fn", *extra_args):
    """Raise a clear error when ``score_fn(params, *extra_args)`` does not mirror ``params``."""
    out = jax.eval_shape(score_fn, params, *extra_args)
    in_leaves, in_tree = jax.tree.flatten(params)
    out_leaves, out_tree = jax.tree.flatten(out)
    if in_tree != out_tree or any(
        jnp.shape(a) != jnp.shape(b) for a, b in zip(in_leaves, out_leaves)
    ):
        shapes_in = jax.tree.map(jnp.shape, params)
        shapes_out = jax.tree.map(lambda a: a.shape, out)
        raise ValueError(
            f"`{name}` must return an array with the shape of its input: got input shapes "
            f"{shapes_in} and output shapes {shapes_out}."
        )
