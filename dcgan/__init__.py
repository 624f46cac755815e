"""dcgan: a TensorFlow (tf.compat.v1 graph mode) DCGAN toolkit for anime faces and friends.

The Python API (README, "Python API"): `Generator` draws pictures from a trained run and
`to_pil` turns them into PIL images; both are loaded on first use, so `import dcgan` does not
import TensorFlow. Mistakes raise `UsageError`.
"""

import importlib

from dcgan.errors import UsageError

__version__ = "0.1.0"
__all__ = ["Generator", "UsageError", "to_pil"]

# Public names defined in submodules, imported when first asked for (PEP 562).
_LAZY = {"Generator": "dcgan.generator", "to_pil": "dcgan.generator"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcgan' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})
