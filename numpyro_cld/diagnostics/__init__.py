"""Mode coverage and mixing diagnostics, on ArviZ (definitions: ``docs/diagnostics.md``).

Standard diagnostics cannot say whether a sampler found all the modes: chains that all sit
in the same mode agree with each other, so R-hat is happy. This package assigns every draw
to a mode and measures, for draws with modes ``a in {0..K-1}`` and target weights ``w``:

- ``frequency`` ``f_k`` (pooled over chains) and ``chain_frequency`` (per chain);
- total variation ``tv = 1/2 sum_k |f_k - w_k|`` (and per chain);
- ``modes_found``: the number of ``k`` with ``f_k > 0``;
- ``first_visit``: the first draw index at which each chain is in mode ``k`` (-1: never);
- ``switch_rate``: per chain, the fraction of consecutive draws whose modes differ.

:func:`mode_coverage` returns these as an ``xarray.Dataset`` with ``chain``/``draw``/``mode``
dimensions that can be attached to the InferenceData (:func:`attach_coverage`);
:func:`compare_kernels` puts several runs side by side with ArviZ bulk/tail ESS and R-hat
of the draws and of the mode indicators ``1[a = k]``.

A mode rule (:func:`mode_rule`) is one of: a NumPyro mixture distribution (largest
posterior responsibility), a ``numpyro_cld.targets`` target (its own ``assign``), an array
of centres ``(K, *event_shape)`` (nearest in Euclidean distance), or any callable mapping a
batch ``(n, *event_shape)`` to ``n`` integer labels (e.g. an image classifier).

Modules: :mod:`~numpyro_cld.diagnostics.modes` (mode rules),
:mod:`~numpyro_cld.diagnostics.coverage` (the coverage Dataset),
:mod:`~numpyro_cld.diagnostics.compare` (the comparison table),
:mod:`~numpyro_cld.diagnostics.draws` (draws with a chain dimension from any run),
:mod:`~numpyro_cld.diagnostics.tempering` (:func:`swap_summary`: how a tempered run's ladder
communicated; :func:`log_evidence`: its log evidence with a standard error) and
:mod:`~numpyro_cld.diagnostics.arviz_compat` (arviz 0.23 / 1.x differences).
"""

from .compare import KernelComparison, compare_kernels
from .coverage import attach_coverage, frequencies_by_draw, mode_coverage
from .modes import ModeRule, assign_modes, mode_rule
from .tempering import LogEvidence, log_evidence, swap_summary

__all__ = [
    "ModeRule",
    "mode_rule",
    "assign_modes",
    "mode_coverage",
    "attach_coverage",
    "frequencies_by_draw",
    "compare_kernels",
    "KernelComparison",
    "swap_summary",
    "log_evidence",
    "LogEvidence",
]
