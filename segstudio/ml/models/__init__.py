"""Segmentation networks: the study's U-Net and the VGG16-encoder U-Net, and their registry."""

from segstudio.ml.models.registry import MODEL_NAMES, build_model, model_config, validate_config
from segstudio.ml.models.unet import UNet
from segstudio.ml.models.vgg_unet import VGG16UNet

__all__ = ["MODEL_NAMES", "UNet", "VGG16UNet", "build_model", "model_config", "validate_config"]
