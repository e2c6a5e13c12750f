"""Any sampler of this package on pytree positions, as BlackJAX's take them.

The samplers move a flat vector; :func:`on_pytrees` ravels a position shaped like
``example`` on the way in and unravels it on the way out, so that ``state.z`` and
``state.z_grad`` keep the user's structure and the target is written on that structure."""

from collections.abc import Callable
from typing import Any

import jax
from jax.flatten_util import ravel_pytree

from .state import LangevinState, start_position

__all__ = ["on_pytrees"]


def on_pytrees(
    build: Callable[[Callable], tuple[Callable, Callable]],
    potential_and_score: Callable,
    example: Any,
) -> tuple[Callable, Callable]:
    """``(init, step)`` of ``build`` on pytrees shaped like ``example``.

    :param build: ``flat potential_and_score -> (init, step)``, e.g.
        ``lambda f: langevin(f, step_size=0.1, adjust=True)`` or
        ``lambda f: chained(layout, f, steps_per_patch=5)``.
    :param potential_and_score: ``f(z, rng_key) -> (U(z), s(z))`` with ``z`` and the score
        ``s`` shaped like ``example``.
    :param example: a position with the structure, shapes and dtypes of every position.
    :return: ``init(position, rng_key)`` and ``step(rng_key, state)``, whose states hold
        ``z`` and ``z_grad`` as pytrees; the draws are those of the flat sampler.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro_cld.samplers import langevin, on_pytrees
        >>> def potential_and_score(z, rng_key=None):  # N(0, I) on {"a": (2,), "b": ()}
        ...     u = 0.5 * (jnp.sum(z["a"] ** 2) + z["b"] ** 2)
        ...     return u, jax.tree.map(lambda v: -v, z)
        >>> start = {"a": jnp.zeros(2), "b": jnp.zeros(())}
        >>> init, step = on_pytrees(lambda f: langevin(f, step_size=0.5, adjust=True),
        ...                         potential_and_score, start)
        >>> state = step(jax.random.key(1), init(start, jax.random.key(0)))
        >>> jax.tree.map(jnp.shape, state.z)
        {'a': (2,), 'b': ()}
    """
    # unravel restores the example's dtypes: those of the chain (float64 under x64), so that
    # a float32 example does not cast every state back to float32
    _, unravel = ravel_pytree(start_position(example))

    def ravel(tree):
        return ravel_pytree(tree)[0]

    def flat_source(x, rng_key=None):
        pe, score = potential_and_score(unravel(x), rng_key)
        return pe, ravel(score)

    flat_init, flat_step = build(flat_source)

    def as_tree(state: LangevinState) -> LangevinState:
        return state._replace(z=unravel(state.z), z_grad=unravel(state.z_grad))

    def init(position: Any, rng_key: jax.Array) -> LangevinState:
        return as_tree(flat_init(ravel(position), rng_key))

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        flat = state._replace(z=ravel(state.z), z_grad=ravel(state.z_grad))
        return as_tree(flat_step(rng_key, flat))

    return init, step
