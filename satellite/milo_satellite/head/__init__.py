"""Milo's face-tracking pan/tilt head: detect, recognise, follow (issue 6, docs/head.md).

The satellite builds it from the `head:` section of its config::

    config = HeadConfig.from_dict(yaml_section)          # HeadError on bad options
    if simulate:
        config = config.simulated(camera_source=args.camera)
    head = build_head(config)
    await head.start()

and maps `Head.state`, the listeners and the commands onto its ESPHome entities.
"""

from __future__ import annotations

from .camera import open_camera
from .config import HeadConfig
from .errors import HeadError
from .head import Head
from .servos import build_servos
from .state import HeadState
from .stats import HeadStats

__all__ = ["Head", "HeadConfig", "HeadError", "HeadState", "HeadStats", "build_head"]


def build_head(config: HeadConfig) -> Head:
    """A head wired to the camera and servo backend that `config` names."""
    return Head(config, open_camera(config.camera), build_servos(config.servos))
