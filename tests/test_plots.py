"""Coverage plots: saved to PNG (Agg backend) and checked against the data they draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from numpyro_cld import diagnostics as D  # noqa: E402
from numpyro_cld import plots  # noqa: E402

W3 = np.array([0.2, 0.4, 0.4])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def runs():
    rng = np.random.default_rng(0)
    stuck = np.zeros((5, 40), int)
    mixing = rng.choice(3, size=(5, 40), p=W3)
    return {
        "vanilla": D.mode_coverage(labels=stuck, weights=W3),
        "chained": D.mode_coverage(labels=mixing, weights=W3),
    }


def saved_png(fig, path, dpi=50):
    fig.savefig(path, dpi=dpi)
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    w, h = fig.get_size_inches() * dpi
    assert abs(img.shape[0] - h) <= 1 and abs(img.shape[1] - w) <= 1
    # not a blank canvas: the plot has more than one colour
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 2
    return img


def test_mode_frequencies_plot(tmp_path):
    cov = runs()
    fig = plots.plot_mode_frequencies(cov)
    saved_png(fig, tmp_path / "freq.png")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights[:3], cov["vanilla"]["frequency"])
    np.testing.assert_allclose(heights[3:6], cov["chained"]["frequency"])
    (segments,) = [c for c in ax.collections if c.get_label() == "target"]
    np.testing.assert_allclose([s[0, 1] for s in segments.get_segments()], W3)
    dots = [c for c in ax.collections if c.get_label() != "target"]
    assert [len(d.get_offsets()) for d in dots] == [5 * 3, 5 * 3]  # chains x modes
    np.testing.assert_allclose(
        np.sort(dots[1].get_offsets()[:, 1]),
        np.sort(cov["chained"]["chain_frequency"].values.ravel()),
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mode 0", "mode 1", "mode 2"]


def test_mode_frequencies_from_comparison_and_single_run(tmp_path):
    x = np.random.default_rng(1).normal(size=(3, 20, 2)) + np.array([5.0, 0.0])
    res = D.compare_kernels({"a": x, "b": -x}, [[5.0, 0.0], [-5.0, 0.0]])
    fig = plots.plot_mode_frequencies(res, mode_names=["right", "left"], show_chains=False)
    saved_png(fig, tmp_path / "cmp.png")
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], [1, 0, 0, 1])
    fig = plots.plot_mode_frequencies(res.coverage["a"])
    saved_png(fig, tmp_path / "one.png")


def test_frequency_vs_steps_plot(tmp_path):
    cov = runs()
    fig = plots.plot_frequency_vs_steps(
        cov, steps_per_draw={"vanilla": 10, "chained": 20}, title="gmm, d = 2, start: mode 0"
    )
    saved_png(fig, tmp_path / "steps.png")
    assert len(fig.axes) == 2
    # one legend for all panels (the modes and the dashed target), and the title
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "mode 0", "mode 1", "mode 2", "target weight"
    ]  # fmt: skip
    assert fig.get_suptitle() == "gmm, d = 2, start: mode 0"
    for ax, (name, spd) in zip(fig.axes, [("vanilla", 10), ("chained", 20)], strict=False):
        assert ax.get_title() == name and ax.get_xscale() == "log"
        curves = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
        targets = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        f = D.frequencies_by_draw(cov[name]).values
        for k, ln in enumerate(curves):
            np.testing.assert_allclose(ln.get_xdata(), spd * np.arange(1, 41))
            np.testing.assert_allclose(ln.get_ydata(), f[:, k])
        np.testing.assert_allclose([ln.get_ydata()[0] for ln in targets], W3)
    fig = plots.plot_frequency_vs_steps(cov["chained"], cumulative=True, log_x=False)
    saved_png(fig, tmp_path / "cum.png")
    last = [ln.get_ydata()[-1] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "-"]
    np.testing.assert_allclose(last, cov["chained"]["frequency"])


def test_image_grid(tmp_path):
    rng = np.random.default_rng(2)
    imgs = rng.random((10, 64)) * 0.4
    inv = np.arange(10) % 3 == 0
    imgs[inv] = 1 - imgs[inv]
    modes = D.assign_modes(imgs, lambda b: (b.mean(-1) > 0.5).astype(int), num_modes=2)
    fig = plots.plot_image_grid(
        imgs, modes, image_shape=(8, 8), ncols=4, mode_names=["plain", "inverted"]
    )
    saved_png(fig, tmp_path / "grid.png")
    assert len(fig.axes) == 12  # 3 rows x 4 columns, two left empty
    titles = [ax.get_title() for ax in fig.axes[:10]]
    assert titles == ["inverted" if i else "plain" for i in inv]
    shown = [ax.images[0].get_array() for ax in fig.axes[:10]]
    np.testing.assert_allclose(shown[3], imgs[3].reshape(8, 8))
    assert all(not ax.images for ax in fig.axes[10:])


def test_plot_bad_inputs():
    cov = runs()
    with pytest.raises(TypeError, match="coverage"):
        plots.plot_mode_frequencies({"a": np.zeros(3)})
    with pytest.raises(ValueError, match="coverage"):
        plots.plot_mode_frequencies({})
    with pytest.raises(ValueError, match="coverage"):
        plots.plot_mode_frequencies(
            {"a": cov["vanilla"], "b": D.mode_coverage(labels=np.zeros((1, 3), int), num_modes=2)}
        )
    with pytest.raises(ValueError, match="mode_names"):
        plots.plot_mode_frequencies(cov, mode_names=["a", "b"])
    with pytest.raises(ValueError, match="steps_per_draw"):
        plots.plot_frequency_vs_steps(cov, steps_per_draw=0)
    with pytest.raises(ValueError, match="images"):
        plots.plot_image_grid(np.zeros((4, 64)))
    with pytest.raises(ValueError, match="modes"):
        plots.plot_image_grid(np.zeros((4, 8, 8)), np.zeros(3, int))
    with pytest.raises(ValueError, match="modes"):
        plots.plot_image_grid(np.zeros((2, 8, 8)), np.array([0, 2]), mode_names=["a", "b"])
