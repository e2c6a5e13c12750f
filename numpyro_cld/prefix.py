"""The prefix-score protocol of the chained sweep.

:class:`ChainedLangevin` (``conditional="prefix"``) moves patch ``i`` with the score of the
prefix conditional ``p_sigma(x_i | x_<i)``: later patches integrated out, noise of level
``sigma`` added to the current patch only. A *prefix source* supplies it incrementally,
so a step costs one patch's work, not a pass over ``x``:

- ``init_context(sigma)`` -> the context before any patch (a pytree, per chain);
- ``advance(context, i, x_patch, sigma)`` -> the context after patch ``i`` is finished;
- ``potential_and_score(context, i, x_patch, sigma)`` -> ``(U, s)`` of patch ``i`` given the
  context: ``U = -log p_sigma(x_i | x_<i)`` up to a constant (0 when there is no density)
  and ``s`` its gradient in ``x_patch`` with the shape of ``x_patch``;
- ``has_density`` -> whether ``U`` is real (needed for the Metropolis test).

``i`` is a traced integer, ``x_patch`` has a static size (a smaller last patch is passed
with its own size), and ``sigma`` is a scalar array; ``sigma = 0`` means the unsmoothed
target. Exact mixtures keep per-component partial log-likelihoods as the context (and
ignore ``sigma`` there); a learned recurrent network keeps its hidden state, which may
depend on ``sigma`` when the noise level is fed as a first token, so kernels keep one
context per noise level.
"""

from typing import Any, Protocol, runtime_checkable

__all__ = ["PrefixSource"]


@runtime_checkable
class PrefixSource(Protocol):
    """Structural type of a prefix-conditional score source (see the module docs)."""

    has_density: bool

    def init_context(self, sigma) -> Any: ...

    def advance(self, context, i, x_patch, sigma) -> Any: ...

    def potential_and_score(self, context, i, x_patch, sigma) -> tuple[Any, Any]: ...
