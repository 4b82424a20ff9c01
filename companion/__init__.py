"""Companion package of the sequential-unlearning course: the machinery behind the notebooks."""

from .config import CourseError, load_profile
from .runtime import resolve_device, set_seed

__all__ = ["CourseError", "load_profile", "resolve_device", "set_seed"]
__version__ = "0.1.0"
