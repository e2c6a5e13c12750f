"""Sources of the target itself (see :mod:`.protocol`): a potential or a score function on
the pytree of the latent values, moved as a flat vector."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .protocol import Source

__all__ = ["check_score_shape", "from_potential", "from_score", "traced_once"]


def traced_once(fn: Callable) -> Callable:
    """``fn`` traced once per input shapes and dtypes, then replayed from its jaxpr.

    A sampler calls its target at several places of a step (the branches of warmup, the
    patches of a sweep, every replica of a ladder) and at ``init``; each call of a plain
    Python function runs it again, and for a NumPyro model that is a whole model trace. The
    jaxpr holds the same operations, so the values are those of ``fn``; unlike ``jax.jit`` it
    compiles nothing of its own when called eagerly (at ``init``). Closed-over traced values
    belong to the trace in which the returned function is called, so build it there (the
    kernels bind a sampler per model arguments)."""
    cache = {}

    def replay(*args):
        leaves, tree = jax.tree.flatten(args)
        avals = tuple(jax.typeof(a) for a in leaves)
        key = (tree, avals)
        if key not in cache:
            specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals]
            closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(
                *jax.tree.unflatten(tree, specs)
            )
            cache[key] = closed, jax.tree.structure(out_shape)
        closed, out_tree = cache[key]
        out = jax.core.eval_jaxpr(closed.jaxpr, closed.consts, *leaves)
        return jax.tree.unflatten(out_tree, out)

    return replay


def from_potential(potential_fn: Callable, unravel_fn: Callable) -> Source:
    """Source for a potential ``U`` on pytrees: ``(U(x), -grad U(x))`` on flat ``x``."""

    def flat_potential(x):
        return potential_fn(unravel_fn(x))

    value_and_grad = traced_once(jax.value_and_grad(flat_potential))

    def source(x, level=None, rng_key=None):
        pe, grad = value_and_grad(x)
        return pe, -grad

    return source


def from_score(score_fn: Callable, unravel_fn: Callable) -> Source:
    """Source for a score function on pytrees (no density): ``(0, s(x))`` on flat ``x``."""

    def source(x, level=None, rng_key=None):
        score = ravel_pytree(score_fn(unravel_fn(x)))[0]
        return jnp.zeros((), jnp.result_type(x)), score.astype(jnp.result_type(x))

    return source


def check_score_shape(
    score_fn: Callable, params: Any, name: str = "score_fn", *extra_args: Any
) -> None:
    """Raise a clear error when ``score_fn(params, *extra_args)`` does not mirror ``params``."""
    out = jax.eval_shape(score_fn, params, *extra_args)
    in_leaves, in_tree = jax.tree.flatten(params)
    out_leaves, out_tree = jax.tree.flatten(out)
    if in_tree != out_tree or any(
        jnp.shape(a) != jnp.shape(b) for a, b in zip(in_leaves, out_leaves, strict=True)
    ):
        shapes_in = jax.tree.map(jnp.shape, params)
        shapes_out = jax.tree.map(lambda a: a.shape, out)
        raise ValueError(
            f"`{name}` must return an array with the shape of its input: got input shapes "
            f"{shapes_in} and output shapes {shapes_out}."
        )
