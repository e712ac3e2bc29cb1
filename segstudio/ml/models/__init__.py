"""Segmentation networks (the study's U-Net, the VGG16 U-Net, EfficientNet-Lite U-Nets) and their registry."""

from segstudio.ml.models.registry import ARCHITECTURES, MODEL_NAMES, build_model, model_config, validate_config
from segstudio.ml.models.unet import UNet
from segstudio.ml.models.vgg_unet import VGG16UNet

__all__ = ["ARCHITECTURES", "MODEL_NAMES", "UNet", "VGG16UNet", "build_model", "model_config", "validate_config"]
