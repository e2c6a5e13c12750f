"""Divergence accounting of the kernels: a running count, and one report per run with the
run's totals (what ``print_summary`` counts); no host call on a clean transition.

A kernel does not see the end of a NumPyro run (``MCMC`` calls ``sample`` in a loop it owns),
so at ``init`` it finds the :class:`~numpyro.infer.MCMC` that called it, reads the run's
length, and its compiled step signals the host at the last transition of each run as well as
at a transition with a fault. Driven by a user's own loop (no ``MCMC``), it reports at the
first flagged transition after warmup instead, and says so.
"""

import sys
import warnings
import weakref
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.infer import MCMC

from ..checks import user_stacklevel
from ..notes import logger

__all__ = ["FaultAccounting"]

WHAT = (
    "a divergence is a block of Langevin steps that met a region it could not move in at "
    "its step size: a proposal with a non-finite potential or score, or a log acceptance "
    "ratio below -1000 (NumPyro's max_delta_energy), where the block accepted under 10% of "
    "its proposals; a risk of bias, as NUTS's divergences are (docs/reliability.md)"
)


def _warn(message: str) -> None:
    """A ``RuntimeWarning`` from the host callback; logged instead where warnings are errors
    (NumPyro's test suites run so): an exception raised inside JAX's callback would abort the
    run with an opaque ``XlaRuntimeError`` and lose the draws."""
    try:
        warnings.warn(message, RuntimeWarning, stacklevel=user_stacklevel())
    except Warning:
        logger.warning(message)


def _driver() -> weakref.ref | None:
    """The :class:`~numpyro.infer.MCMC` whose method called the kernel's ``init``, if any."""
    frame = sys._getframe(2)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, MCMC):
            return weakref.ref(owner)
        frame = frame.f_back
    return None


class _RunTally:
    """The host's counts of one run after warmup: per chain where the chains report apart."""

    def __init__(self):
        self.pending = np.zeros((0, 2), np.int64)  # (steps, flagged) of the chains running
        self.done: list[np.ndarray] = []  # (steps, flagged) of the chains that finished

    def add(self, counts: np.ndarray) -> None:
        if len(self.pending) == 0:
            self.pending = np.zeros_like(counts)
        if len(self.pending) != len(counts):  # interleaved reports: keep totals only
            self.pending = self.pending.sum(0, keepdims=True)
            counts = counts.sum(0, keepdims=True)
        self.pending = self.pending + counts

    def finish(self, num: int) -> None:
        rows = self.pending if len(self.pending) == num else np.zeros((num, 2), np.int64)
        if len(self.pending) not in (0, num):
            rows[0] = self.pending.sum(0)
        self.done.extend(rows)
        self.pending = np.zeros((0, 2), np.int64)


class FaultAccounting:
    """Mixin: counts divergent proposals and reports each run's diverging transitions once.

    ``warn_faults`` (default True) switches the host callback off, e.g. under a ``vmap`` over
    many replications where a callback per transition would cost more than the run.
    """

    warn_faults: bool = True

    def _reset_faults(self) -> None:
        self._num_faults = 0
        self._fault_warned = False
        self._tally = _RunTally()
        self._mcmc = None

    @property
    def num_faults(self) -> int:
        """Running total of divergent Langevin proposals (non-finite, or log acceptance ratio
        below -1000; rejected) over this kernel's runs, warmup included. The transitions
        that diverged in NumPyro's sense are the ``diverging`` field."""
        return self._num_faults

    def _report_faults(self, payload) -> None:
        """``payload``: per chain, ``(proposals in warmup, proposals after, transitions
        flagged after, end of run)`` of a transition that had a fault or ended a run."""
        rows = np.asarray(payload, np.int64).reshape(-1, 4)
        self._num_faults += int(rows[:, :2].sum())
        mcmc = self._mcmc() if self._mcmc is not None else None
        if mcmc is None:
            self._report_first(rows)
            return
        self._tally.add(rows[:, 1:3])
        if rows[:, 3].any():
            self._tally.finish(len(rows))
            if len(self._tally.done) >= mcmc.num_chains:
                done, self._tally = np.array(self._tally.done), _RunTally()
                self._report_run(done, mcmc.num_samples)

    def _report_run(self, done: np.ndarray, num_samples: int) -> None:
        flagged = int(done[:, 1].sum())
        if flagged == 0:
            return
        per_chain = ""
        if len(done) > 1 and len(set(done[:, 1].tolist())) > 1:
            per_chain = " (per chain: " + ", ".join(str(int(c)) for c in done[:, 1]) + ")"
        frozen = int(np.sum(done[:, 1] >= num_samples))
        _warn(
            f"{type(self).__name__}: {flagged} of {num_samples * len(done)} transitions after "
            f"warmup diverged{per_chain}, with {int(done[:, 0].sum())} divergent proposals in "
            f"all; {WHAT}. `mcmc.print_summary()` counts them, the field `diverging` flags "
            "them, `num_diverging` counts a transition's divergent proposals."
            + (f" In {frozen} of {len(done)} chain(s) every transition diverged: those chains "
               "are stuck where their step size cannot move them, and their draws do not "
               "sample the target." if frozen else "")
        )  # fmt: skip

    def _report_first(self, rows: np.ndarray) -> None:
        """Without an ``MCMC`` the run's end is unknown: one warning at the first transition
        after warmup that diverged."""
        flagged = int(rows[:, 2].sum())
        if flagged == 0 or self._fault_warned:
            return
        self._fault_warned = True
        _warn(
            f"{type(self).__name__}: a transition after warmup diverged ({flagged} chain(s), "
            f"{int(rows[:, 1].sum())} divergent proposals); {WHAT}. Later ones are not "
            "reported: the `diverging` field of the states flags each."
        )

    def _reporting_faults(self, sample_fn: Callable) -> Callable:
        """``sample_fn`` followed by a host report when the transition had a fault or ended
        a run of the ``MCMC`` that called ``init``."""
        # the tally is not reset here: with chain_method="sequential" each chain calls init,
        # and the chains before it may still be reporting (JAX dispatches asynchronously)
        self._fault_warned = False
        self._mcmc = _driver()
        if not self.warn_faults:
            return sample_fn
        num_warmup = self._num_warmup
        mcmc = self._mcmc() if self._mcmc is not None else None
        num_samples = None if mcmc is None else mcmc.num_samples

        # The host is only called on a transition that had a fault or ended a run. Under an
        # outer vmap (chain_method=jax.vmap or sharded_chains()) lax.cond would turn into a
        # select that calls the host every transition (measured 3x slower), so the batching
        # rule makes one call with the mapped chains' rows.
        @jax.custom_batching.custom_vmap
        def signal(payload):
            lax.cond(
                jnp.any(payload[..., :3] > 0) | jnp.any(payload[..., 3] > 0),
                lambda: jax.debug.callback(self._report_faults, payload),
                lambda: None,
            )
            return payload

        @signal.def_vmap
        def _signal_batched(axis_size, in_batched, payload):
            signal(payload)
            return payload, in_batched[0]

        def sample(state, model_args, model_kwargs):
            new = sample_fn(state, model_args, model_kwargs)
            after = new.i > num_warmup
            steps = new.num_diverging
            end = jnp.zeros_like(after)
            if num_samples is not None:
                end = after & ((new.i - num_warmup) % num_samples == 0)
            payload = jnp.stack(
                [
                    jnp.where(after, 0, steps),
                    jnp.where(after, steps, 0),
                    (after & new.diverging).astype(steps.dtype),
                    end.astype(steps.dtype),
                ],
                axis=-1,
            )
            signal(payload)
            return new

        return sample
