"""Patches of the chained sweep: their layout (static, NumPy) and the scan over them.

Coordinates are counted in *site order* (the latent sites of a model in the order of their
sample statements, each raveled row-major); ``perm`` maps site order to the position in the
raveled latent vector that the samplers move.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax, random

from ..checks import renamed

__all__ = ["PatchLayout", "patch_layout", "patch_padding", "scan_patches"]


class PatchLayout(NamedTuple):
    """Where each patch lies (all fields static).

    - **dim** - latent dimension ``d``.
    - **indices** - per patch, the positions of its coordinates in the raveled vector.
    - **starts** - per patch, its first coordinate in site order (what prefix sources see).
    - **equal** - the patches come from ``patch_size`` (equal, except a smaller last one).
    - **contiguous** - the patches are consecutive ranges in site order, first to last:
      what the prefix sweep needs.
    """

    dim: int
    indices: tuple
    starts: tuple
    equal: bool
    contiguous: bool

    @property
    def num_patches(self) -> int:
        return len(self.indices)


def _groups_from_patches(patches, dim, site_slices):
    groups = []
    for b in patches:
        if isinstance(b, str):
            if b not in site_slices:
                raise ValueError(
                    f"`patches`: unknown latent site '{b}'; latent sites are {list(site_slices)}."
                )
            offset, size = site_slices[b]
            groups.append(np.arange(offset, offset + size))
            continue
        g = np.asarray(b)
        if g.ndim != 1 or g.size == 0 or not np.issubdtype(g.dtype, np.integer):
            raise TypeError(
                "`patches` entries must be site names or non-empty 1-d integer "
                f"index groups, got {b!r}."
            )
        groups.append(g.astype(np.int64))
    allidx = np.concatenate(groups)
    if np.any(allidx < 0) or np.any(allidx >= dim):
        raise ValueError(f"`patches` has indices outside 0..{dim - 1} (latent dimension {dim}).")
    counts = np.bincount(allidx, minlength=dim)
    if np.any(counts > 1):
        twice = np.flatnonzero(counts > 1)[:10].tolist()
        raise ValueError(f"`patches` overlap: coordinates {twice} appear in more than one patch.")
    if np.any(counts == 0):
        missed = np.flatnonzero(counts == 0)[:10].tolist()
        raise ValueError(f"`patches` miss coordinates {missed} of the latent dimension {dim}.")
    return groups


def patch_layout(
    dim: int,
    *,
    patch_size: int = 1,
    patches: Sequence | None = None,
    site_slices: Mapping[str, tuple[int, int]] | None = None,
    perm: np.ndarray | None = None,
    blocks: Sequence | None = None,
) -> PatchLayout:
    """The layout of ``ceil(dim / patch_size)`` patches, or of explicit ``patches``.

    :param int dim: latent dimension.
    :param int patch_size: coordinates per patch (the last patch may be smaller).
    :param patches: explicit patches: site names or integer index groups (site order),
        covering every coordinate once.
    :param site_slices: ``name -> (offset, size)`` of each latent site in site order (for
        patches given by name).
    :param perm: ``perm[j]`` is the raveled position of site-order coordinate ``j``.
    :param blocks: former name of ``patches`` (deprecated, ``FutureWarning``).
    """
    patches = renamed("patches", patches, "blocks", blocks)
    if patches is None and dim == 0:
        # no latent coordinates (only observed or deterministic sites): nothing to sweep, and
        # the kernels return empty samples as NumPyro's do
        return PatchLayout(0, (), (), True, True)
    if patches is None:
        if patch_size > dim:
            raise ValueError(
                f"`patch_size`={patch_size} is larger than the latent dimension {dim}."
            )
        groups = [np.arange(s, min(s + patch_size, dim)) for s in range(0, dim, patch_size)]
    else:
        groups = _groups_from_patches(patches, dim, site_slices or {})
    perm = np.arange(dim) if perm is None else np.asarray(perm)
    starts = tuple(int(g[0]) for g in groups)
    contiguous = all(np.array_equal(g, np.arange(g[0], g[0] + len(g))) for g in groups) and list(
        starts
    ) == sorted(starts)
    indices = tuple(perm[g].astype(np.int32) for g in groups)
    return PatchLayout(dim, indices, starts, patches is None, contiguous)


def patch_padding(layout: PatchLayout) -> int:
    """Slots to append to the raveled vector so that explicit blocks of different sizes run
    in one ``lax.scan``: each block is padded to the largest with indices of these slots
    (0 when the blocks are equal)."""
    if layout.equal or not layout.indices:
        return 0
    sizes = [len(g) for g in layout.indices]
    return max(sizes) - min(sizes)


PatchStep = Callable[[Any, Any, Any], tuple[Any, tuple[Any, Any]]]
"""``patch_step(carry, i, idx) -> (carry, (accept_prob, num_diverging, diverging))`` for patch
``i`` whose raveled positions are ``idx``: its acceptance, its count of divergent proposals
and whether it was stuck (:func:`~numpyro_cld.blocks.step.stuck`)."""


def scan_patches(
    layout: PatchLayout,
    patch_step: PatchStep,
    carry: Any,
    *,
    order: str = "sequential",
    rng_key: Any = None,
    pad: bool = False,
) -> tuple[Any, Any, Any, Any]:
    """Run ``patch_step`` over every patch, in order or (``order="random"``) in a fresh
    random order drawn from ``rng_key``.

    Equal patches run in one ``lax.scan``, and so do explicit blocks of different sizes with
    ``pad``: each is padded to the largest with the indices ``dim, dim + 1, ...`` of the
    :func:`patch_padding` slots, which ``patch_step`` must append to its vector and leave out
    of the target (a coordinate the target does not depend on random-walks, and its forward
    and reverse MALA noises cancel exactly). Compile time is then independent of the number
    of patches. Blocks of different sizes without ``pad`` (the prefix sweep, whose sources
    read a patch's size from its shape) are unrolled.

    :return: ``(carry, accept_prob, num_diverging, diverging)``: per-patch acceptance ``(P,)``
        in patch order, the total number of divergent proposals and whether a patch diverged.
    """
    num = layout.num_patches
    shuffle = order == "random"
    if layout.equal:
        n_eq = layout.dim // len(layout.indices[0])
        stacked = np.stack(layout.indices[:n_eq])
    elif pad or patch_padding(layout) == 0:
        n_eq, size = num, max(len(g) for g in layout.indices)
        stacked = np.stack(
            [np.concatenate([g, layout.dim + np.arange(size - len(g))]) for g in layout.indices]
        ).astype(np.int32)
    else:
        return _unrolled(layout, patch_step, carry, shuffle, rng_key)
    ids = random.permutation(rng_key, n_eq) if shuffle else jnp.arange(n_eq)
    carry, (acc, ndiv, div) = lax.scan(
        lambda c, inp: patch_step(c, inp[0], inp[1]), carry, (ids, jnp.asarray(stacked)[ids])
    )
    acc = jnp.zeros_like(acc).at[ids].set(acc)  # back to patch order
    if n_eq < num:  # the smaller last patch (with a random order: after the others)
        carry, (a, n, d) = patch_step(carry, jnp.asarray(n_eq), jnp.asarray(layout.indices[-1]))
        acc, ndiv, div = jnp.append(acc, a), jnp.append(ndiv, n), jnp.append(div, d)
    return carry, acc, jnp.sum(ndiv, dtype=jnp.int32), jnp.any(div)


def _unrolled(layout, patch_step, carry, shuffle, rng_key):
    num = layout.num_patches
    perm = random.permutation(rng_key, num) if shuffle else None
    branches = [
        lambda c, j=j: patch_step(c, jnp.asarray(j), jnp.asarray(layout.indices[j]))
        for j in range(num)
    ]
    accs, ndivs, divs = [], [], []
    for j in range(num):  # blocks differ in size: unrolled (a switch on the permuted id)
        carry, (a, n, d) = (
            branches[j](carry) if perm is None else lax.switch(perm[j], branches, carry)
        )
        accs.append(a)
        ndivs.append(n)
        divs.append(d)
    acc = jnp.stack(accs)
    if perm is not None:
        acc = jnp.zeros_like(acc).at[perm].set(acc)
    return carry, acc, jnp.sum(jnp.stack(ndivs), dtype=jnp.int32), jnp.any(jnp.stack(divs))
