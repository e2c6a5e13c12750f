"""Where the potential and the score come from: one concept for every sampler.

A *source* returns ``(U(x), s(x))`` on the flat latent vector ``x``, with ``U = -log p`` up
to a constant and ``s = -grad U`` the score. A source without a density (a learned score
network) returns ``U = 0`` and declares ``has_density = False``: such a source cannot drive
a Metropolis test. Two arguments are always explicit:

- ``level``: the noise level of an annealing path (``sigma`` on the ``"ve"`` path,
  ``lambda`` on ``"vp"`` / ``"tempered"``; see :mod:`numpyro_cld.schedules`). Sources of the
  target itself ignore it (pass ``None``).
- ``rng_key``: for Monte-Carlo estimators; deterministic sources ignore it.

So every whole-vector source is a callable ``source(x, level, rng_key) -> (U, s)``
(:data:`Source`); :func:`at_level` fixes the level and gives the ``f(x, rng_key)`` that a
Langevin step moves with (:data:`numpyro_cld.blocks.PotentialAndScore`).

The chained sampler's prefix sweep needs more: patch ``i`` moves with the score of the
prefix conditional ``p_level(x_i | x_<i)``, later patches integrated out, and the finished
patches enter through a per-chain *context*, so that a step costs one patch's work. A
:class:`PrefixSource` adds the context and the patch index as explicit arguments:

- ``init_context(level)`` -> the context before any patch (a pytree);
- ``advance(context, i, x_patch, level)`` -> the context after patch ``i`` is finished;
- ``potential_and_score(context, i, x_patch, level)`` -> ``(U, s)`` of patch ``i`` given the
  context, ``U = -log p_level(x_i | x_<i)`` up to a constant and ``s`` of the shape of
  ``x_patch``;
- ``has_density``.

``i`` is a traced integer, ``x_patch`` has a static size (a smaller last patch is passed
with its own size) and ``level`` is a scalar array; ``level = 0`` means the unsmoothed
target. Exact mixtures keep per-component partial log-likelihoods as the context; a learned
recurrent network (:class:`numpyro_cld.nets.NetPrefixSource`) keeps its hidden state, which
depends on the level when the level is fed as a first token, so samplers keep one context
per level.

Constructors: :mod:`.potential` (a potential or score function on pytrees),
:mod:`.levels` (smoothed targets: exact, Monte-Carlo, tempered, learned),
:mod:`.prefix` and :mod:`.model_prefix` (prefix sources), :mod:`numpyro_cld.nets` (learned).
"""

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax

from ..blocks.step import PotentialAndScore

__all__ = ["PrefixSource", "Source", "at_level"]

Source = Callable[[jax.Array, Any, Any], tuple[jax.Array, jax.Array]]
"""``source(x, level, rng_key) -> (U, s)`` on a flat vector ``x``."""


@runtime_checkable
class PrefixSource(Protocol):
    """Structural type of a prefix-conditional source (see the module docs)."""

    has_density: bool

    def init_context(self, sigma) -> Any: ...

    def advance(self, context, i, x_patch, sigma) -> Any: ...

    def potential_and_score(self, context, i, x_patch, sigma) -> tuple[Any, Any]: ...


def at_level(source: Source, level: Any) -> PotentialAndScore:
    """``f(x, rng_key) = source(x, level, rng_key)``: the source at one level."""

    def potential_and_score(x, rng_key=None):
        return source(x, level, rng_key)

    return potential_and_score
