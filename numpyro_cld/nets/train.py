"""Training of the score networks: Adam on the DSM loss, held-out loss, save and load.

The optimisation runs ``log_every`` steps at a time inside one jitted ``lax.scan`` (the
Python loop only logs), with minibatches drawn with replacement from the training split.
Everything is seeded: the same ``seed`` gives the same split, batches and parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, serialization
from jax import lax, random
from numpy.typing import ArrayLike

from ..checks import float_array, nonnegative_int, number, positive_float
from .autoregressive import PatchLSTM
from .conv import ScoreConv
from .dsm import Loss, loss_for
from .layers import check_input
from .mlp import ScoreMLP
from .unet import ScoreUNet

__all__ = ["TrainResult", "train", "save", "load", "check_data"]

_NETS = {cls.__name__: cls for cls in (ScoreMLP, ScoreConv, ScoreUNet, PatchLSTM)}
_FORMAT = "numpyro_cld.nets/1"

#: a network that :func:`train`, :func:`save` and :func:`load` handle
Net = ScoreMLP | ScoreConv | ScoreUNet | PatchLSTM


class TrainResult(NamedTuple):
    """What :func:`train` reports.

    - **steps** - step counts at which the losses were recorded.
    - **train_loss** - mean training loss over the ``log_every`` steps before each record.
    - **holdout_loss** - loss on the held-out split (fixed noise draw, so the records are
      paired); empty when ``holdout=0``. The first record is before training.
    - **seconds** - wall-clock time of the optimisation, compilation included.
    """

    steps: np.ndarray
    train_loss: np.ndarray
    holdout_loss: np.ndarray
    seconds: float


def check_data(net: Net, data: ArrayLike, name: str = "data") -> np.ndarray:
    """``data`` as a float32 array ``(N, *event)``; clear errors for NaN/inf or bad shape.

    :param net: the network the data is for (its ``event_shape``).
    :param data: ``(N, *event_shape)`` or ``(N, dim)`` samples.
    :param str name: how the argument is named in error messages.
    """
    _check_net(net)
    arr = float_array(name, data, np.float32)
    if arr.ndim < 2 or arr.shape[0] < 2:
        raise ValueError(
            f"`{name}` must be an array of at least 2 samples on its leading "
            f"axis, got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.all(np.isfinite(arr.reshape(len(arr), -1)), axis=1)))
        raise ValueError(f"`{name}` contains NaN or infinite values ({bad} samples).")
    if check_input(arr, net.event_shape, name) != (arr.shape[0],):
        raise ValueError(f"`{name}` must have shape (N, {net.event_shape}), got {arr.shape}.")
    return arr


DIVERGED = 10.0
"""Training has diverged when the last training loss exceeds the untrained network's loss
``u`` by more than ``DIVERGED * |u|``."""


def _rate(learning_rate: Any) -> str:
    return "a schedule" if callable(learning_rate) else repr(learning_rate)


def _check_net(net: Any) -> None:
    if not isinstance(net, tuple(_NETS.values())):
        raise TypeError(
            f"`net` must be a ScoreMLP, ScoreConv or PatchLSTM, got {type(net).__name__}."
        )


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # a plain print per record instead
        return None
    return tqdm(total=total, desc="DSM", leave=False)


def train(
    net: Net,
    data: ArrayLike,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    learning_rate: float | optax.Schedule = 1e-3,
    holdout: float = 0.1,
    seed: int = 0,
    log_every: int = 100,
    loss_fn: Loss | None = None,
    progress: bool = True,
) -> TrainResult:
    """Fit ``net`` (in place) to ``data`` by DSM with Adam.

    :param net: a :class:`ScoreMLP`, :class:`ScoreConv` or :class:`PatchLSTM`.
    :param data: ``(N, *event_shape)`` or ``(N, dim)`` training samples.
    :param int steps: optimisation steps (rounded up to a multiple of ``log_every``).
    :param int batch_size: minibatch size.
    :param learning_rate: Adam learning rate (or an optax schedule).
    :param float holdout: fraction of ``data`` held out for the validation loss.
    :param int seed: seeds the split, the minibatches and the noise.
    :param int log_every: steps per jitted chunk and per loss record.
    :param loss_fn: ``loss(net, batch, key)``; defaults to :func:`~numpyro_cld.nets.dsm.loss_for`.
    :param bool progress: show a progress bar (tqdm if installed).
    :return: :class:`TrainResult`.
    """
    for name, v in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {v!r}.")
    if not 0 <= number("holdout", holdout, "a fraction in [0, 1)") < 1:
        raise ValueError(f"`holdout` must lie in [0, 1), got {holdout!r}.")
    if not callable(learning_rate):
        positive_float("learning_rate", learning_rate)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable loss(net, batch, key), got {loss_fn!r}.")
    seed = nonnegative_int("seed", seed)
    arr = check_data(net, data)
    arr = arr[np.random.default_rng(seed).permutation(len(arr))]
    n_hold = int(round(holdout * len(arr)))
    if holdout > 0 and not 1 <= n_hold < len(arr):
        raise ValueError(
            f"`holdout` {holdout} leaves no held-out or no training samples for {len(arr)} samples."
        )
    train_data, hold_data = jnp.asarray(arr[n_hold:]), jnp.asarray(arr[:n_hold])
    loss_fn = loss_for(net) if loss_fn is None else loss_fn

    optimizer = nnx.Optimizer(net, optax.adam(learning_rate), wrt=nnx.Param)
    graphdef, state = nnx.split((net, optimizer))
    n_train = train_data.shape[0]

    @jax.jit
    def run_chunk(state, key, train_data):
        def body(state, key):
            model, opt = nnx.merge(graphdef, state)
            key_idx, key_loss = random.split(key)
            batch = train_data[random.randint(key_idx, (batch_size,), 0, n_train)]
            loss, grads = nnx.value_and_grad(loss_fn)(model, batch, key_loss)
            opt.update(model, grads)
            return nnx.state((model, opt)), loss

        state, losses = lax.scan(body, state, random.split(key, log_every))
        return state, jnp.mean(losses)

    @jax.jit
    def holdout_loss(state, key, hold_data):
        model, _ = nnx.merge(graphdef, state)
        return loss_fn(model, hold_data, key)

    key_train, key_hold = random.split(random.PRNGKey(seed))
    num_chunks = -(-steps // log_every)
    record_steps, train_losses, hold_losses = [], [], []
    if n_hold:
        hold_losses.append(float(holdout_loss(state, key_hold, hold_data)))
    # the untrained network's loss on (a batch of) the training data: the divergence check
    untrained = float(holdout_loss(state, key_hold, train_data[:batch_size]))
    bar = _progress(num_chunks * log_every, progress)
    start = time.perf_counter()
    for chunk, key in enumerate(random.split(key_train, num_chunks)):
        state, loss = run_chunk(state, key, train_data)
        record_steps.append((chunk + 1) * log_every)
        train_losses.append(float(loss))
        msg = {"loss": f"{train_losses[-1]:.4f}"}
        if n_hold:
            hold_losses.append(float(holdout_loss(state, key_hold, hold_data)))
            msg["holdout"] = f"{hold_losses[-1]:.4f}"
        if bar is not None:
            bar.update(log_every)
            bar.set_postfix(msg)
        elif progress:
            print(f"step {record_steps[-1]}: " + ", ".join(f"{k} {v}" for k, v in msg.items()))
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    if not np.all(np.isfinite(train_losses)):
        raise FloatingPointError(
            f"DSM training diverged (non-finite loss); lower `learning_rate` (got "
            f"{_rate(learning_rate)}). The network is left as it was."
        )
    # a finite loss far above the untrained network's: the optimiser overshoots (too large a
    # learning rate) and the returned network would be worse than none
    if train_losses[-1] > untrained + DIVERGED * abs(untrained):
        raise FloatingPointError(
            f"DSM training diverged: the training loss rose from {untrained:.4g} (untrained "
            f"network) to {train_losses[-1]:.4g}; lower `learning_rate` (got "
            f"{_rate(learning_rate)}). The network is left as it was."
        )
    nnx.update((net, optimizer), state)
    return TrainResult(
        np.asarray(record_steps), np.asarray(train_losses), np.asarray(hold_losses), seconds
    )


def _digest(params: Any) -> str:
    # SHA-256 of the serialized parameters: flipped bytes in a weight do not break msgpack
    return hashlib.sha256(serialization.msgpack_serialize(params)).hexdigest()


def _check_path(path) -> None:
    """``path`` must be a file name (str or path-like): ``open`` and ``os.path`` read an int
    as a file descriptor, which ``load`` would read and close."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`path` must be a file name (str or pathlib.Path), got {type(path).__name__} "
            f"{path!r:.60}."
        )


def save(net: Net, path: str | os.PathLike) -> None:
    """Write the network's type, constructor arguments and parameters to ``path`` (msgpack),
    with a SHA-256 of the parameters that :func:`load` checks. The file is written next to
    ``path`` and then renamed, so a failed write leaves no partial file.

    :param net: the network.
    :param path: the file to write; its folder must exist.
    """
    _check_net(net)
    _check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise FileNotFoundError(
            f"`path` must be a file in an existing folder, got {os.fspath(path)!r}."
        )
    params = nnx.to_pure_dict(nnx.state(net, nnx.Param))
    payload = {
        "format": _FORMAT,
        "type": type(net).__name__,
        "config": json.dumps(dict(net.config)),
        "sha256": _digest(params),
        "params": params,
    }
    data = serialization.msgpack_serialize(payload)
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:  # a read-only folder or file system, a full disk
        raise OSError(
            f"`path` {os.fspath(path)!r} cannot be written ({e.strerror or e}); nothing was "
            "written there."
        ) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path: str | os.PathLike) -> Net:
    """Rebuild a network written by :func:`save`.

    :param path: a file written by :func:`save`. ``ValueError`` naming ``path`` if it is
        not such a file, is truncated or corrupt (SHA-256 mismatch; files without one, from
        before it was stored, are not checked), or its weights do not fit its config.
    """
    _check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` {os.fspath(path)!r} is not a file.")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        payload = serialization.msgpack_restore(raw)
    except Exception as err:  # noqa: BLE001 - msgpack raises several types on bad bytes
        raise ValueError(
            f"`path` {os.fspath(path)!r} is not a numpyro_cld network file (unreadable "
            f"msgpack: {err})."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"`path` {os.fspath(path)!r} is not a numpyro_cld network file.")
    if payload.get("type") not in _NETS:
        raise ValueError(
            f"`path` {os.fspath(path)!r} holds an unknown network type {payload.get('type')!r} "
            f"(known: {sorted(_NETS)})."
        )
    params = payload.get("params")
    if "sha256" in payload and (
        not isinstance(params, dict) or _digest(params) != payload["sha256"]
    ):
        raise ValueError(
            f"`path` {os.fspath(path)!r} is corrupt: the SHA-256 of its weights does not "
            "match the one stored when it was saved."
        )
    try:
        config = json.loads(payload["config"])
        net = _NETS[payload["type"]](**config, rngs=nnx.Rngs(0))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"`path` {os.fspath(path)!r} has an invalid network config: {err}"
        ) from None
    state = nnx.state(net, nnx.Param)
    expected = nnx.to_pure_dict(state)
    params = _int_keys(params) if isinstance(params, dict) else params
    if jax.tree.structure(params) != jax.tree.structure(expected) or any(
        np.shape(a) != np.shape(b)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(expected), strict=True)
    ):
        raise ValueError(
            f"`path` {os.fspath(path)!r}: the stored weights do not fit the stored config "
            f"{config} (different layers or shapes)."
        )
    nnx.replace_by_pure_dict(state, params)
    nnx.update(net, state)
    return net


def _int_keys(tree: Any) -> Any:
    # msgpack keeps the integer keys of nnx.List entries as strings
    if not isinstance(tree, dict):
        return tree
    return {
        (int(k) if isinstance(k, str) and k.isdigit() else k): _int_keys(v) for k, v in tree.items()
    }
