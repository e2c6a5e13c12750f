"""Chains sharded over devices: a ``chain_method`` for :class:`numpyro.infer.MCMC`.

NumPyro's ``chain_method`` may be a callable that maps a one-chain function over the chain
axis (``pmap`` is one). :func:`sharded_chains` returns such a callable: it ``vmap``-s the
chains, as ``chain_method="vectorized"`` does, inside ``jax.shard_map`` over a device mesh, so
every device runs its block of chains with no communication and the same code runs on
several CPUs, GPUs, TPUs or hosts. With the same keys it gives the same draws as
``"vectorized"``. On a 2-core CPU split into two host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``), 1000 paper-gmm chains ran 2.1x
faster than on one device (``benchmarks/bench_devices.py``).

**Several processes** (multi-controller JAX: one process per host, or per GPU). After
``jax.distributed.initialize(...)``, ``jax.devices()`` lists the devices of every process and
the default mesh spans them all. Every process runs the same script with the same key and
``init_params``; each one places only the rows of its own devices
(``jax.make_array_from_process_local_data``), runs its block of chains, and the draws are
gathered at the end of the compiled run (one all-gather: Gloo on CPU, NCCL on GPU, ICI/DCN on
TPU), so ``mcmc.get_samples()`` returns all chains on every process. Two CPU processes on one
machine, each with one device, give the same draws, bit for bit, as one process with two host
devices (``tests/test_parallel.py``)::

    # process i of 2 (i = 0, 1), the coordinator is process 0's host and a free port
    jax.distributed.initialize("localhost:12345", num_processes=2, process_id=i)
    mcmc = MCMC(Langevin(model), num_warmup=100, num_samples=100, num_chains=8,
                chain_method=sharded_chains())
    mcmc.run(jax.random.key(0))  # same key in every process

See ``docs/benchmarks.md`` (Devices) for the launch commands.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["sharded_chains"]


def sharded_chains(
    devices: Sequence[jax.Device] | None = None, axis_name: str = "chains"
) -> Callable[[Callable], Callable[[Any], Any]]:
    """A ``chain_method`` that shards vectorised chains over ``devices``.

    :param devices: devices of the mesh (default: all devices, ``jax.devices()``, which spans
        every process after ``jax.distributed.initialize``).
    :param str axis_name: name of the mesh axis.
    :return: a callable to pass as ``MCMC(..., chain_method=sharded_chains())``.

    ``num_chains`` must be a multiple of the number of devices (all processes together). The
    progress bar is not shown (as with ``"parallel"``, the run is one compiled program).

    When the devices belong to several processes, every process must call ``mcmc.run`` with
    the same key and arguments (as in any multi-controller JAX program: the inputs are not
    exchanged, each process takes its devices' chains from its own copy); the draws and the
    last state are gathered, so every process gets all chains, on its first local device.

    **Example**

    .. doctest::

        >>> import jax, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import Langevin, sharded_chains
        >>> def model():
        ...     numpyro.sample("x", dist.Normal(0.0, 1.0))
        >>> n = 2 * jax.device_count()
        >>> mcmc = MCMC(Langevin(model, step_size=0.1), num_warmup=10, num_samples=10,
        ...             num_chains=n, chain_method=sharded_chains(), progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> mcmc.get_samples(group_by_chain=True)["x"].shape == (n, 10)
        True
    """
    if callable(devices) and not isinstance(devices, jax.Device):
        # `MCMC(..., chain_method=sharded_chains)`: NumPyro called the factory with its
        # chain function where `devices` goes
        raise TypeError(
            "`sharded_chains` is a factory: pass `chain_method=sharded_chains()` (called), "
            "not `chain_method=sharded_chains`; got a callable as `devices`."
        )
    if devices is not None and (
        isinstance(devices, jax.Device) or not hasattr(devices, "__iter__")
    ):
        raise TypeError(f"`devices` must be a sequence of jax devices, got {devices!r}.")
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("`devices` must contain at least one device.")
    bad = [d for d in devices if not isinstance(d, jax.Device)]
    if bad:
        raise TypeError(f"`devices` must be jax devices (jax.devices()), got {bad!r}.")
    if not isinstance(axis_name, str):
        raise TypeError(f"`axis_name` must be a string, got {axis_name!r}.")
    mesh = Mesh(devices, (axis_name,))
    sharding = NamedSharding(mesh, PartitionSpec(axis_name))
    processes = {d.process_index for d in devices}
    num_processes = len(processes)
    if num_processes > 1 and jax.process_index() not in processes:
        # a process without devices in the mesh could neither feed nor receive chains
        raise ValueError(
            f"`devices` must include devices of this process ({jax.process_index()}): every "
            "process of a multi-process run takes part in the sharded run."
        )
    # one process: the chains stay sharded over its devices, as in the one-process code path.
    # Several: gathered by the compiled program itself (replicated output), since NumPyro reads
    # the draws with numpy, which only sees the rows on this process's devices.
    out_sharding = NamedSharding(mesh, PartitionSpec()) if num_processes > 1 else None

    def chain_method(one_chain_fn: Callable) -> Callable[[Any], Any]:
        # shard_map rather than jit + sharding propagation: every device runs its block of
        # chains as its own program, and nothing in NumPyro's loop can be left replicated
        mapped = jax.jit(
            jax.shard_map(
                jax.vmap(one_chain_fn),
                mesh=mesh,
                in_specs=PartitionSpec(axis_name),
                out_specs=PartitionSpec(axis_name),
                check_vma=False,
            ),
            out_shardings=out_sharding,
        )

        def run(map_args: Any) -> Any:
            num_chains = jax.tree.leaves(map_args)[0].shape[0]
            if num_chains % len(devices):
                where = f" on {num_processes} processes" if num_processes > 1 else ""
                raise ValueError(
                    f"`num_chains` ({num_chains}) must be a multiple of the number of "
                    f"devices ({len(devices)}{where}) for sharded_chains."
                )
            if num_processes > 1:
                # each process holds the whole input (NumPyro derives it from the same key and
                # arguments everywhere) and places the rows of its own devices
                map_args = jax.tree.map(_to_global, map_args)
            else:
                map_args = jax.device_put(map_args, sharding)
            with warnings.catch_warnings():
                # NumPyro's inner loops donate buffers; inside one compiled program that is moot
                warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
                out = mapped(map_args)
            if num_processes > 1:
                # every local device holds a full copy: hand NumPyro one, a process-local array
                out = jax.tree.map(lambda x: x.addressable_data(0), out)
            return out

        def _to_global(x: Any) -> jax.Array:
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                return jax.device_put(x, sharding)  # already global (e.g. a previous run's)
            return jax.make_array_from_process_local_data(sharding, x, x.shape)

        return run

    return chain_method
