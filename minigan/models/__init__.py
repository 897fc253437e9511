"""Models built from minigan.nn layers."""

from .dcgan import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
