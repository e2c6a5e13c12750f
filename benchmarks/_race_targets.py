"""The race's targets (with the reference of the tempered paths) and budgets; see
``bench_alternatives.py``."""

import os

import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.infer.util import initialize_model

from numpyro_cld.examples.posteriors import label_switching
from numpyro_cld.examples.reach import factor_sign, iris_label_switching, two_bumps
from numpyro_cld.targets import balanced_gmm, paper_gmm, song_ermon_toy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("chained", "chained-ula", "mala", "annealed", "nuts", "smc", "pt")
TARGETS = (
    "paper-gmm",
    "balanced-gmm",
    "song-ermon-toy",
    "paper-gmm-d1000",
    "label-switching-k3",
    "iris-enumerated-k3",
    "factor-sign-d50",
    "bumps-d20-improper",
)
NUM_CHAINS = 64
TV_GOAL = 0.05
SMC_MUTATIONS, LEAPFROG = 10, 5


# -- targets --------------------------------------------------------------------------------
class Target:
    """A benchmark target: model, site, dim, exact weights, jax ``assign``, starts and the
    reference (diagonal Gaussian) of the tempered paths of SMC and PT."""

    def __init__(self, name, t, kind):
        self.name, self.t, self.kind = name, t, kind
        self.model, self.site, self.dim = t.model, t.site, t.dim
        self.weights = np.asarray(t.weights, np.float64)
        self.assign = t.assign
        if kind == "mixture":
            locs, scales = np.asarray(t.locs), np.asarray(t.scales)
            s = 1.5 * float(np.sqrt(np.max(locs**2 + scales**2)))
            self.ref_loc, self.ref_scale = np.zeros(self.dim), np.full(self.dim, s)
            self.ref_text = f"N(0, {s:.2f}^2 I)"
            self.patch_size = min(10, max(1, self.dim // 10))
        elif t.prior is not None:  # the prior (one diagonal Gaussian): temper the likelihood
            w, locs, scales = t.prior
            assert len(w) == 1
            self.ref_loc, self.ref_scale = np.asarray(locs[0]), np.asarray(scales[0])
            self.ref_text = f"the prior N({locs[0][0]:g}, {scales[0][0]:g}^2 I)"
            self.patch_size = min(2, self.dim)
        else:  # no prior to draw (ImproperUniform + factor): a broad Gaussian, as for mixtures
            s = 1.5 * float(np.sqrt(np.max(np.mean(np.asarray(t.starts) ** 2, -1)) + 1.0))
            self.ref_loc, self.ref_scale = np.zeros(self.dim), np.full(self.dim, s)
            self.ref_text = f"N(0, {s:.2f}^2 I)"
            self.patch_size = min(2, self.dim)
        self.ref_loc = jnp.asarray(self.ref_loc, jnp.float32)
        self.ref_scale = jnp.asarray(self.ref_scale, jnp.float32)
        _, potential_fn, _, _ = initialize_model(random.key(0), self.model, dynamic_args=False)
        self.log_target = lambda x: -potential_fn({self.site: x})

    def init(self, key, n):
        if self.kind == "mixture":
            start = "mode0" if self.name != "song-ermon-toy" else None  # its uniform starts
            return self.t.init_params(key, n, start)[self.site]
        return self.t.init_params(key, n, mode=0)[self.site]

    def log_ref(self, x):
        z = (x - self.ref_loc) / self.ref_scale
        return -0.5 * jnp.sum(z**2, -1) - jnp.sum(jnp.log(self.ref_scale))

    def tv(self, freq):
        return float(0.5 * np.abs(freq - self.weights).sum())


def make_target(name):
    if name == "paper-gmm":
        return Target(name, paper_gmm(100), "mixture")
    if name == "balanced-gmm":
        return Target(name, balanced_gmm(100), "mixture")
    if name == "song-ermon-toy":
        return Target(name, song_ermon_toy(), "mixture")
    if name == "paper-gmm-d1000":
        return Target(name, paper_gmm(1000), "mixture")
    if name == "label-switching-k3":
        return Target(name, label_switching(3), "posterior")
    if name == "iris-enumerated-k3":
        return Target(name, iris_label_switching(3), "posterior")
    if name == "factor-sign-d50":
        return Target(name, factor_sign(40), "posterior")
    if name == "bumps-d20-improper":  # started in the minor bump (mode 0, mass 0.3)
        return Target(name, two_bumps(20, minor=0.3, offset=1.0), "posterior")
    raise ValueError(f"unknown target {name!r}; choose from {TARGETS}")


# -- budgets (warmup, samples, chunk) per target and method --------------------------------
def sizes(target, method, quick):
    """Warmup and sampling transitions (budgets are prefixes of the sampling phase), SMC
    runs and PT replicas: chosen so that the full run fits ~15 minutes on 2 cores. The
    unadjusted kernels adapt nothing, so their warmup is one transition."""
    if quick:
        return dict(num_warmup=2, num_samples=4, chunk=2, smc_runs=2, replicas=4)
    d = target.dim
    big, small = d >= 1000, d <= 3
    table = {
        "chained": (2, 2) if big else ((8, 32) if small else (8, 16)),
        "chained-ula": (1, 2) if big else ((1, 32) if small else (1, 16)),
        "mala": (50, 50) if big else (50, 150),
        "annealed": (1, 2) if big else ((1, 15) if small else (1, 7)),
        "nuts": (50, 50) if big else (100, 100),
        "pt": (50, 100) if big else (100, 300),
    }
    if target.kind == "posterior":  # the tempered route adapts its ladder in >= 40 transitions
        table.update({m: (100, 400) for m in ("chained", "chained-ula", "mala", "nuts")})
    w, n = table.get(method, (0, 0))
    return dict(
        num_warmup=w,
        num_samples=n,
        chunk=int(np.gcd(w, n)) or 1,
        smc_runs=4 if big else 8,
        replicas=32 if big else (8 if small else 16),
    )
