"""PatchLSTM's scan over the patches equals the unrolled loop it replaced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from numpyro_cld import nets


def unrolled_conditional_scores(net, x_clean, x_noisy, sigma):
    """The former ``PatchLSTM.conditional_scores``: a Python loop over the patches."""
    batch = jnp.shape(x_clean)[: jnp.ndim(x_clean) - len(net.event_shape)]
    sigma = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), batch)
    clean = jnp.reshape(x_clean, (*batch, net.num_patches, net.patch_size))
    noisy = jnp.reshape(x_noisy, (*batch, net.num_patches, net.patch_size))
    context = net.init_context(sigma)
    out = []
    for i in range(net.num_patches):
        out.append(net.patch_score(context, noisy[..., i, :], sigma))
        context = net.advance(context, clean[..., i, :])
    return jnp.stack(out, -2)


@pytest.mark.parametrize(
    "event_shape, patch_size, num_layers, batch",
    [((6, 6), 6, 1, (2, 3)), (12, 3, 2, ())],
    ids=["image-2d-batch", "vector-two-layers-no-batch"],
)
def test_scan_equals_unrolled(event_shape, patch_size, num_layers, batch):
    net = nets.PatchLSTM(
        event_shape,
        patch_size,
        sigmas=[1.0, 0.1],
        hidden=16,
        num_layers=num_layers,
        rngs=nnx.Rngs(3),
    )
    shape = (*batch, *np.atleast_1d(event_shape))
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    clean = jax.random.normal(k1, shape)
    noisy = clean + 0.5 * jax.random.normal(k2, shape)
    sigma = jax.random.uniform(k3, batch, minval=0.05, maxval=2.0)
    # jitted, as in training (eager dispatch of the unrolled loop takes seconds)
    scanned = jax.jit(lambda a, b, s: net.conditional_scores(a, b, s))
    got = scanned(clean, noisy, sigma)
    want = jax.jit(lambda a, b, s: unrolled_conditional_scores(net, a, b, s))(clean, noisy, sigma)
    assert got.shape == (*batch, net.num_patches, patch_size)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the prefix matters: changing the last clean patch changes no score, the first does
    later = clean.reshape(*batch, -1).at[..., -1].add(1.0).reshape(shape)
    earlier = clean.reshape(*batch, -1).at[..., 0].add(1.0).reshape(shape)
    np.testing.assert_array_equal(scanned(later, noisy, sigma), got)
    assert not np.allclose(scanned(earlier, noisy, sigma)[..., 1:, :], got[..., 1:, :])


@pytest.mark.slow  # CI budget: the two forward tests run in CI
def test_scan_gradients_equal_unrolled():
    net = nets.PatchLSTM((6, 6), 6, sigmas=[1.0], hidden=16, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 6, 6))
    sigma = jnp.array([0.3, 1.0, 2.0])

    def loss(model, f):
        return jnp.sum(f(model, x, x + 0.1, sigma) ** 2)

    grad = nnx.jit(nnx.grad(loss), static_argnums=1)
    scanned = grad(net, lambda m, a, b, s: m.conditional_scores(a, b, s))
    unrolled = grad(net, unrolled_conditional_scores)
    for g, w in zip(jax.tree.leaves(scanned), jax.tree.leaves(unrolled), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
