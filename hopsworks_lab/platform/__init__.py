"""The control plane: configuration, metadata, services. No tornado in here."""

from .app import Platform, PlatformNotInitialised
from .config import PlatformConfig

__all__ = ["Platform", "PlatformConfig", "PlatformNotInitialised"]
