"""The draws of a Langevin step (``numpyro_cld.blocks.random.step_draws``): one threefry call
per step with the step in the counter. Statistical checks use fixed keys and tolerances of
a few standard errors of the number of draws (independent draws: ESS = n)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import random
from jax.extend.random import threefry_2x32
from scipy import stats

from numpyro_cld.blocks.random import _standard_normal, _unit, normal, step_draws

STEPS, DIM = 400, 250  # 100k normals, 400 uniforms per run


def _run(key, dtype=jnp.float32, dim=DIM, steps=STEPS):
    def one(i):
        return step_draws(key, i, (dim,), dtype, uniform=True)

    return jax.jit(jax.vmap(one))(jnp.arange(steps))


def test_transform_is_jax_random_normal():
    """Given the bits ``jax.random.normal`` hashes (the classic layout's counters 0..n-1),
    the transform gives its draws exactly: the noise is JAX's normal, only the counters
    differ."""
    key = random.key(3)
    bits = threefry_2x32(random.key_data(key), jnp.arange(10, dtype=jnp.uint32))
    ours = _standard_normal(_unit(bits, jnp.float32), jnp.float32)
    np.testing.assert_array_equal(ours, normal(key, (10,), jnp.float32))


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_normal_and_uniform_distributions(impl):
    """Kolmogorov-Smirnov against N(0, 1) and U(0, 1), and moments within 5 standard
    errors; the rbg key takes the fold-in fallback."""
    z, u = _run(random.key(0, impl=impl))
    z, u = np.asarray(z).ravel(), np.asarray(u)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_steps_and_coordinates_are_uncorrelated():
    """Neighbouring steps, neighbouring coordinates and the uniform with the normals: sample
    correlations within 5 / sqrt(n) of 0 (the draws of one step are counters (i, j), those
    of the next (i + 1, j))."""
    z, u = _run(random.key(1))
    z, u = np.asarray(z), np.asarray(u)
    pairs = {
        "step i, i + 1": (z[:-1].ravel(), z[1:].ravel()),
        "coordinate j, j + 1": (z[:, :-1].ravel(), z[:, 1:].ravel()),
        "uniform, last normal": (u, z[:, -1]),
        "uniform, first normal": (u, z[:, 0]),
    }
    for what, (a, b) in pairs.items():
        r = np.corrcoef(a, b)[0, 1]
        assert abs(r) < 5 / np.sqrt(a.size), (what, r)


def test_same_key_same_draws_any_layout_and_key_type():
    """A typed and a raw threefry key draw the same, under either threefry layout; two steps
    or two keys never draw the same vector."""
    typed = random.key(7)
    a = step_draws(typed, 5, (6,), jnp.float32, uniform=True)
    with jax.threefry_partitionable(True):
        b = step_draws(typed, 5, (6,), jnp.float32, uniform=True)
    c = step_draws(random.PRNGKey(7), 5, (6,), jnp.float32, uniform=True)
    for other in (b, c):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1], other[1])
    assert not np.any(a[0] == step_draws(typed, 6, (6,), jnp.float32)[0])
    assert not np.any(a[0] == step_draws(random.key(8), 5, (6,), jnp.float32)[0])


def test_shapes_and_no_uniform_without_the_test():
    z, u = step_draws(random.key(0), 0, (3, 4), jnp.float32)
    assert z.shape == (3, 4) and z.dtype == jnp.float32 and u is None
    z, u = step_draws(random.key(0), 0, (0,), jnp.float32, uniform=True)
    assert z.shape == (0,) and u.shape == () and 0 <= float(u) < 1


def test_float64_uses_64_bit_draws():
    """Under x64, float64 draws take two words each: their mantissas use more than float32's
    24 bits, and they pass the same distribution checks."""
    with jax.enable_x64(True):
        z, u = _run(random.key(2), jnp.float64)
        assert z.dtype == jnp.float64 and u.dtype == jnp.float64
        z = np.asarray(z).ravel()
        assert np.any(z != z.astype(np.float32))
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert stats.kstest(np.asarray(u), "uniform").pvalue > 1e-3
