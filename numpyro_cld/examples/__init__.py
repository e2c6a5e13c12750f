"""Example and benchmark families: targets with known answers, used by the tests, by
``benchmarks/`` and by the docs. They are not part of the inference API, and nothing in the
core (:mod:`~numpyro_cld.blocks`, :mod:`~numpyro_cld.sources`, :mod:`~numpyro_cld.samplers`,
:mod:`~numpyro_cld.kernels`) imports them.

- :mod:`~numpyro_cld.examples.families`: the generated family of mixtures and posteriors on
  which the kernels' defaults are measured (``docs/defaults.md``).
- :mod:`~numpyro_cld.examples.geometry`: hard-geometry posteriors (ill-conditioned, curved,
  latent series, hierarchical) with known answers, on which Langevin's mass adaptation is
  measured against NUTS (``docs/defaults.md``, "Hard geometry").
- :mod:`~numpyro_cld.examples.posteriors`: multimodal posteriors of models with data whose
  mode masses are known (``docs/posteriors.md``).

The two modules load on first use (``numpyro_cld.examples.families``, or
``from numpyro_cld.examples import families``).
"""

import importlib

__all__ = ["families", "geometry", "posteriors"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
