"""Bastion: an AI security control plane.

Public names of each room are re-exported by that room's package (``bastion.core``,
``bastion.manifest``, ...). This top level stays import-light on purpose.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
