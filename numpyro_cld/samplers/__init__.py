"""The functional core: pure ``init`` / ``step`` functions of each sampler over flat arrays,
usable without :class:`numpyro.infer.MCMC` (``docs/functional.md``), as NumPyro's
:func:`~numpyro.infer.hmc.hmc` and BlackJAX's ``build_kernel``.

- :func:`langevin` - ULA / MALA with warmup adaptation;
- :func:`annealed` - one annealing sweep per transition;
- :func:`chained` - one sweep over patches per transition (prefix or full conditionals);
- :func:`replica_exchange` - any of them on each power of a tempered likelihood, with
  swaps and exact prior draws (:mod:`.tempering`).

All return ``(init, step)``: ``init(position, rng_key) -> LangevinState`` and
``step(rng_key, state) -> LangevinState``, over flat arrays; :func:`on_pytrees` runs any of
them on pytree positions.
"""

from .annealed import AnnealedAdaptState, annealed
from .chained import chained
from .langevin import langevin
from .pytrees import on_pytrees
from .state import LangevinState
from .tempering import TemperedAdaptState, replica_exchange

__all__ = [
    "AnnealedAdaptState",
    "LangevinState",
    "TemperedAdaptState",
    "annealed",
    "chained",
    "langevin",
    "on_pytrees",
    "replica_exchange",
]
