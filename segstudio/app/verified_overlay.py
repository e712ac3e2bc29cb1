"""View > Verified Pixels (V): shows which pixels a person confirmed (``core.verified``).

Verified pixels are tinted white over their class colour; the rest (the
model's guesses, what retraining ignores) look as usual. The canvas calls
``tint(rgba, rect)`` for each rect it recolours, so a brush stroke recolours
only its own rect, as without the overlay (the session reports verify-only
strokes as changed rects too).
"""

from __future__ import annotations

import numpy as np

from segstudio.app.menus import add_action

TINT = np.array((255, 255, 255), np.uint16)
TINT_SHARE = 3  # of 8: how much white goes into a verified pixel's colour
MIN_ALPHA = 110  # verified void pixels (see-through otherwise) still show


class VerifiedOverlay:
    def __init__(self, window) -> None:
        self.window = window
        self.visible = False
        self.action = add_action(window, window.actions.menus["View"], "Verified Pixels", self.set_visible, "V",
                                 checkable=True)
        self.action.setToolTip("Tint the pixels you painted, filled, erased or reviewed (what retraining learns from)")

    def set_visible(self, on: bool) -> None:
        self.visible = bool(on)
        self.window.canvas.verified_tint = self.tint if self.visible else None
        self.window.canvas.refresh_overlay()

    def tint(self, rgba: np.ndarray, rect) -> None:
        doc = self.window.session.doc
        if doc is None or doc.verified is None or doc.verified.shape != self.window.canvas.mask.shape:
            return
        y0, x0, y1, x1 = rect
        verified = doc.verified[y0:y1, x0:x1]
        if not verified.any():
            return
        picked = rgba[verified]
        picked[:, :3] = ((picked[:, :3].astype(np.uint16) * (8 - TINT_SHARE) + TINT * TINT_SHARE) >> 3).astype(np.uint8)
        picked[:, 3] = np.maximum(picked[:, 3], MIN_ALPHA)
        rgba[verified] = picked


def install_verified_overlay(window) -> VerifiedOverlay:
    overlay = VerifiedOverlay(window)
    window.verified_overlay = overlay
    return overlay
