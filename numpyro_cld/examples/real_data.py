"""Unimodal posteriors on real data sets that scikit-learn ships (no download), the kinds of
model NumPyro's own examples write: the real-data members of
:func:`~numpyro_cld.examples.families.family`.

- ``logistic-cancer-d31``: logistic regression on the breast-cancer data (569 rows, 30
  standardised features; nearly separable, so the prior shapes the posterior);
- ``linear-diabetes-d12``: Gaussian linear regression on the diabetes data (442 rows, 10
  standardised features, a standardised response, a positive noise scale);
- ``softmax-wine-d28``: multinomial logistic regression on the wine data (178 rows, 13
  standardised features, 3 classes, the first class the reference).

Each builder returns ``(model, dim, description, sites)``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

__all__ = ["breast_cancer_logistic", "diabetes_linear", "wine_softmax"]


def _standardised(x: np.ndarray) -> jnp.ndarray:
    return jnp.asarray((x - x.mean(0)) / x.std(0), jnp.float32)


def logistic_model(xs: jnp.ndarray, y: jnp.ndarray, alpha_scale: float) -> Callable[[], None]:
    """Logistic regression of ``y`` on ``xs``: ``alpha ~ N(0, alpha_scale)``, each
    coefficient of ``beta ~ N(0, 1)``."""

    def model() -> None:
        a = numpyro.sample("alpha", dist.Normal(0.0, alpha_scale))
        b = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([xs.shape[1]]).to_event(1))
        numpyro.sample("y", dist.Bernoulli(logits=a + xs @ b), obs=y)

    return model


def breast_cancer_logistic() -> tuple[Callable[[], None], int, str, tuple[str, ...]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    xs, y = _standardised(data.data), jnp.asarray(data.target, jnp.float32)
    p = xs.shape[1]
    model = logistic_model(xs, y, alpha_scale=5.0)
    desc = f"logistic regression, breast-cancer data ({xs.shape[0]} rows, {p} features)"
    return model, p + 1, desc, ("alpha", "beta")


def diabetes_linear() -> tuple[Callable[[], None], int, str, tuple[str, ...]]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    xs = _standardised(data.data)
    y = _standardised(data.target[:, None])[:, 0]
    p = xs.shape[1]

    def model() -> None:
        a = numpyro.sample("alpha", dist.Normal(0.0, 1.0))
        b = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([p]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(a + xs @ b, sigma), obs=y)

    desc = f"linear regression, diabetes data ({xs.shape[0]} rows, {p} features)"
    return model, p + 2, desc, ("alpha", "beta", "sigma")


def wine_softmax() -> tuple[Callable[[], None], int, str, tuple[str, ...]]:
    from sklearn.datasets import load_wine

    data = load_wine()
    xs, y = _standardised(data.data), jnp.asarray(data.target, jnp.int32)
    p, k = xs.shape[1], int(data.target.max()) + 1

    def model() -> None:
        a = numpyro.sample("alpha", dist.Normal(0.0, 5.0).expand([k - 1]).to_event(1))
        b = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([p, k - 1]).to_event(2))
        logits = jnp.concatenate([jnp.zeros((xs.shape[0], 1)), a + xs @ b], -1)
        numpyro.sample("y", dist.Categorical(logits=logits), obs=y)

    desc = f"softmax regression, wine data ({xs.shape[0]} rows, {p} features, {k} classes)"
    return model, (p + 1) * (k - 1), desc, ("alpha", "beta")
