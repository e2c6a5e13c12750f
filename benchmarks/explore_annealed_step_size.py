"""Experiment: AnnealedLangevin's default step size, the paper's NCSN ``eps = 2e-5``, against
Song & Ermon's (2020) technique 3 (:func:`numpyro_cld.schedules.annealed_step_size`) for the
``sigmas="auto"`` levels, on diagonal mixtures of the family; 32 chains x 10 draws (each an
annealing pass), every chain started in the widest component. Prints the levels, eps, TV of
the mode frequencies and the within-mode variance over the component's (1 when right)::

    python benchmarks/explore_annealed_step_size.py \
        mix-d10-k2-diag-sep,mix-d24-k3-diag-overlap,mix-d60-k5-diag-sep,mix-d200-k2-diag-overlap
"""

import sys
import time
import warnings

import jax
import numpy as np
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin
from numpyro_cld.examples.families import member
from numpyro_cld.schedules import annealed_step_size

warnings.simplefilter("ignore")
C, N = 32, 10


def levels_of(m):
    """The ``sigmas="auto"`` levels the kernel builds for this model (after one init)."""
    k = AnnealedLangevin(m.model)
    MCMC(k, num_warmup=0, num_samples=1, progress_bar=False).run(jax.random.key(9))
    return np.asarray(k._levels)


def run(m, step_size):
    k = AnnealedLangevin(m.model, step_size=step_size)
    mc = MCMC(k, num_warmup=0, num_samples=N, num_chains=C, chain_method="vectorized",
              progress_bar=False)  # fmt: skip
    t0 = time.time()
    mc.run(jax.random.key(0), init_params=m.init_params(jax.random.key(1), C))
    x = np.asarray(mc.get_samples()[m.site])
    lab = np.asarray(m.assign(x))
    f = np.bincount(lab, minlength=m.num_components) / lab.size
    # within-mode variance over the component's, averaged over coordinates (1 when right)
    ratios = [
        np.mean(x[lab == j].var(0) / np.asarray(m.scales[j]) ** 2)
        for j in range(m.num_components)
        if (lab == j).sum() > 20
    ]
    tv = 0.5 * np.abs(f - m.weights).sum()
    return len(k._levels), k._step_size, tv, np.mean(ratios), time.time() - t0


def main():
    for name in sys.argv[1].split(","):
        m = member(name)
        for label in ("2e-5", "technique 3"):
            eps = None if label == "2e-5" else annealed_step_size(levels_of(m), 100)
            levels, eps, tv, vr, wall = run(m, eps)
            print(f"{name} {label}: {levels} levels, eps {eps:.2e}, TV {tv:.3f}, "
                  f"variance ratio {vr:.2f}, {wall:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
