"""Tiny shared fixtures for the ml tests (models, checkpoints, encoder weights)."""

from __future__ import annotations

import pytest
import torch

from segstudio.ml.models.registry import model_config


def small_config(name: str, **overrides) -> dict:
    """A registry configuration with the U-Nets shrunk (width 4, Lite decoders 8 wide); encoders stay real."""
    if name.startswith("unet"):
        overrides.setdefault("base_width", 4)
    if name.startswith("lite"):
        overrides.setdefault("decoder_channels", [8, 8, 8, 8])
    return model_config(name, **overrides)


@pytest.fixture
def tiny_config():
    return small_config


@pytest.fixture
def empty_hub_dir(tmp_path):
    """torch hub pointed at an empty folder for the test, restored afterwards."""
    previous = torch.hub._hub_dir  # None means "the default"; set_dir cannot express that
    hub = tmp_path / "hub"
    hub.mkdir()
    torch.hub.set_dir(str(hub))
    try:
        yield hub
    finally:
        torch.hub._hub_dir = previous


@pytest.fixture
def offline(monkeypatch):
    """Every download attempt fails as it does with no network."""
    import urllib.error
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
