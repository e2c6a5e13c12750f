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
        """``n``: the counts ``(during warmup, after warmup)`` of a faulty transition."""
        n_warmup, n_sampling = (int(c) for c in jnp.reshape(n, (-1, 2)).sum(0))
        self._num_faults += n_warmup + n_sampling
        # As in NumPyro, divergences while the step size is being adapted are counted but not
        # reported: dual averaging tries too large steps on purpose, even on a standard normal.
        if n_sampling == 0 or self._fault_warned:
            return
        self._fault_warned = True
        warnings.warn(
            f"{type(self).__name__}: {n_sampling} Langevin step(s) diverged after warmup (a "
            "non-finite position, potential or score, which is never taken; a Metropolis "
            "proposal with log acceptance ratio below -1000; or a step size adapted below "
            "1e-8); the transitions are flagged `diverging` (count per transition: extra "
            "field `num_diverging`; running total, warmup included: `kernel.num_faults`; "
            "`mcmc.print_summary()` reports the number of flagged transitions).",
            RuntimeWarning,
            stacklevel=2,
        )

    def _reporting_faults(self, sample_fn: Callable) -> Callable:
        """``sample_fn`` followed by a host report when the transition had a fault."""
        if not self.warn_faults:
            return sample_fn
        num_warmup = self._num_warmup

        # The host is only called on a transition that had a fault. Under an outer vmap
        # (chain_method=jax.vmap or sharded_chains()) lax.cond would turn into a select that
        # calls the host every transition (measured 3x slower), so the batching rule sums the
        # count over the mapped chains first.
        @jax.custom_batching.custom_vmap
        def signal(n):
            lax.cond(n.sum() > 0, lambda: jax.debug.callback(self._report_faults, n), lambda: None)
            return n

        @signal.def_vmap
        def _signal_batched(axis_size, in_batched, n):
            signal(jnp.sum(n, 0) if in_batched[0] else n)
            return n, in_batched[0]

        def sample(state, model_args, model_kwargs):
            new = sample_fn(state, model_args, model_kwargs)
            count = jnp.sum(new.num_diverging)
            after = jnp.max(new.i) > num_warmup
            signal(jnp.stack([jnp.where(after, 0, count), jnp.where(after, count, 0)]))
            return new

        return sample
