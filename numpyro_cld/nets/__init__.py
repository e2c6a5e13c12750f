"""Learned scores with Flax NNX: noise-conditional and patch-conditional networks, DSM
training, save/load, and adapters to the kernels' score sources (see ``docs/nets.md``)."""

from .adapters import NetPrefixSource, as_prefix_source, as_score_fn, check_trained_sigmas
from .autoregressive import PatchLSTM
from .conv import ScoreConv
from .dsm import dsm_loss, loss_for, patch_dsm_loss
from .mlp import ScoreMLP
from .train import TrainResult, check_data, load, save, train
from .unet import ScoreUNet

__all__ = [
    "ScoreMLP",
    "ScoreConv",
    "ScoreUNet",
    "PatchLSTM",
    "dsm_loss",
    "patch_dsm_loss",
    "loss_for",
    "TrainResult",
    "train",
    "save",
    "load",
    "check_data",
    "as_score_fn",
    "as_prefix_source",
    "NetPrefixSource",
    "check_trained_sigmas",
]


def __getattr__(name):
    if name == "check_sigmas":  # renamed in 0.2: schedules.check_sigmas checks any levels
        import warnings

        warnings.warn(
            "`numpyro_cld.nets.check_sigmas` is renamed `check_trained_sigmas` (same meaning); "
            "the old name will be removed in version 0.3.0.",
            FutureWarning,
            stacklevel=2,
        )
        return check_trained_sigmas
    raise AttributeError(f"module 'numpyro_cld.nets' has no attribute {name!r}")
