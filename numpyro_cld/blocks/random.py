"""Random draws for the hot loops.

JAX's default "partitionable" threefry layout spends a whole 64-bit block on every 32-bit draw;
the classic layout uses both halves, which makes a paper-gmm ULA step (d = 100, 1000 chains)
1.45x faster on CPU. Partitioning is unaffected: each chain draws its own vector from its own
key, so chains shard along the batch axis under either layout. Same key, same draws, whatever
the user's ``jax_threefry_partitionable`` setting.

A Langevin step needs Gaussian noise and, with a Metropolis test, one uniform.
:func:`step_draws` takes both from one threefry call keyed by the run's key, with the step's
index in the counter: threefry is a counter-based generator (Salmon et al., 2011, "Parallel
random numbers: as easy as 1, 2, 3"), so the counter pairs ``(step, j)`` give independent
blocks without deriving a key per step. On XLA's CPU backend every threefry call is a loop of
its own, and on 1000 chains the small calls of a per-step key and a separate uniform cost more
than the hashes they compute (25 interleaved repeats at d = 100: a MALA step with one call runs
at 1.11x BlackJAX ``mala``'s speed, with four calls, as before, at 0.97x).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random
from jax.extend.random import threefry_2x32

__all__ = ["normal", "step_draws"]

_classic_threefry = getattr(jax, "threefry_partitionable", None)


def normal(key, shape, dtype):
    """``jax.random.normal`` with the classic threefry counter layout (any key impl)."""
    if _classic_threefry is None:
        return random.normal(key, shape, dtype)
    with _classic_threefry(False):
        return random.normal(key, shape, dtype)


def _threefry_words(key):
    """The two uint32 words of a threefry key (typed or raw), or None for another impl."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return random.key_data(key) if str(random.key_impl(key)) == "threefry2x32" else None
    if key.dtype == jnp.uint32 and key.shape == (2,):
        return key if jax.config.jax_default_prng_impl == "threefry2x32" else None
    return None


def _unit(bits, dtype):
    """Floats in ``[0, 1)`` from the top mantissa bits, as ``jax.random.uniform`` makes them."""
    finfo = jnp.finfo(dtype)
    uint = bits.dtype.type
    one = np.array(1.0, dtype).view(uint)
    mantissa = lax.shift_right_logical(bits, uint(finfo.bits - finfo.nmant))
    return lax.bitcast_convert_type(mantissa | one, dtype) - np.array(1.0, dtype)


def _standard_normal(unit, dtype):
    """``jax.random.normal``'s transform: ``sqrt(2) erfinv(u)``, ``u`` uniform on (-1, 1)."""
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = jnp.maximum(lo, lo + unit * (np.array(1.0, dtype) - lo))
    return np.array(np.sqrt(2.0), dtype) * lax.erf_inv(u)


def step_draws(key, step, shape, dtype, uniform=False):
    """Standard normal draws of ``shape`` (and one uniform on ``[0, 1)`` if ``uniform``) for
    step ``step`` of a run keyed by ``key``.

    For a threefry key, one threefry call on the counter pairs ``(step, j)``: distinct steps
    never share a block, so the draws of a run are those of one long stream. Other key
    implementations fold the step into the key and draw as ``jax.random`` does.

    :return: ``(normal, uniform)``; ``uniform`` is None unless asked for.
    """
    dtype = jnp.dtype(dtype)
    words = _threefry_words(key)
    if words is None or dtype.itemsize not in (4, 8):
        key = random.fold_in(key, step)
        if not uniform:
            return normal(key, shape, dtype), None
        key_normal, key_uniform = random.split(key)
        return normal(key_normal, shape, dtype), random.uniform(key_uniform, (), dtype)
    size = int(np.prod(shape, dtype=int)) + bool(uniform)
    per_draw = dtype.itemsize // 4
    half = (size * per_draw + 1) // 2
    counts = jnp.concatenate([jnp.full(half, step, jnp.uint32), jnp.arange(half, dtype=jnp.uint32)])
    bits = threefry_2x32(words, counts)[: size * per_draw]
    if per_draw == 2:
        pairs = bits.reshape(2, size).astype(jnp.uint64)
        bits = lax.shift_left(pairs[0], np.uint64(32)) | pairs[1]
    unit = _unit(bits, dtype)
    n = size - bool(uniform)
    return _standard_normal(unit[:n], dtype).reshape(shape), unit[n] if uniform else None
