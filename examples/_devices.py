"""``--devices`` of the example scripts."""

import sys


def chain_method_for(devices, num_chains):
    """``"vectorized"`` on one device; on several, split the CPU into ``devices`` host devices
    (``numpyro.set_host_device_count``, which must run before JAX starts its backend) and
    shard the chains over them with :func:`numpyro_cld.sharded_chains` (no progress bar)."""
    if devices <= 1:
        return "vectorized"
    import numpyro

    numpyro.set_host_device_count(devices)
    import jax

    from numpyro_cld import sharded_chains

    if num_chains % jax.device_count():
        sys.exit(f"--chains ({num_chains}) must be a multiple of --devices ({devices})")
    return sharded_chains()
