"""Fault accounting of the kernels: a count and one warning per run, with no host call on a
clean transition."""

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["FaultAccounting"]


class FaultAccounting:
    """Mixin: counts the Langevin steps whose proposal was not finite and warns once per run.

    ``warn_faults`` (default True) switches the host callback off, e.g. under a ``vmap`` over
    many replications where a callback per transition would cost more than the run.
    """

    warn_faults: bool = True

    def _reset_faults(self) -> None:
        self._num_faults = 0
        self._fault_warned = False

    @property
    def num_faults(self) -> int:
        """Running total of Langevin steps whose proposal was not finite (host-side count over
        this kernel's runs; per transition counts are in the ``num_diverging`` field)."""
        return self._num_faults

    def _report_faults(self, n) -> None:
        n = int(n.sum())
        if n == 0:
            return
        self._num_faults += n
        if not self._fault_warned:
            self._fault_warned = True
            warnings.warn(
                f"{type(self).__name__}: {n} Langevin step(s) diverged (a non-finite position, "
                "potential or score, which is never taken; a Metropolis proposal with log "
                "acceptance ratio below -1000; or a step size adapted below 1e-8); the "
                "transitions are flagged `diverging` (count per transition: extra field "
                "`num_diverging`; "
                "running total: `kernel.num_faults`; `mcmc.print_summary()` reports the "
                "number of flagged transitions).",
                RuntimeWarning,
                stacklevel=2,
            )

    def _reporting_faults(self, sample_fn: Callable) -> Callable:
        """``sample_fn`` followed by a host report when the transition had a fault."""
        if not self.warn_faults:
            return sample_fn

        # The host is only called on a transition that had a fault. Under an outer vmap
        # (chain_method=jax.vmap or sharded_chains()) lax.cond would turn into a select that
        # calls the host every transition (measured 3x slower), so the batching rule sums the
        # count over the mapped chains first.
        @jax.custom_batching.custom_vmap
        def signal(n):
            lax.cond(n > 0, lambda: jax.debug.callback(self._report_faults, n), lambda: None)
            return n

        @signal.def_vmap
        def _signal_batched(axis_size, in_batched, n):
            signal(jnp.sum(n) if in_batched[0] else n)
            return n, in_batched[0]

        def sample(state, model_args, model_kwargs):
            new = sample_fn(state, model_args, model_kwargs)
            signal(jnp.sum(new.num_diverging))
            return new

        return sample
