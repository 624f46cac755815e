"""Start TensorFlow without Keras: the graph code never uses it, and importing it costs seconds.

`import tensorflow` (2.18-2.21) eagerly imports Keras 3 only so that Keras's optimizers register
themselves for SavedModel loading; Keras in turn imports scikit-learn, scipy.stats and
matplotlib. On the 2-core development machine that was 2.3-2.7 s of a 5.2-5.7 s import
(`python -X importtime -c "import tensorflow"`). TensorFlow wraps that import in
`try/except ImportError`, so marking Keras as absent is a supported path, not a patch.
"""

import sys


def skip_keras():
    """Make a later `import tensorflow` in this process skip Keras; returns whether it will.

    Call it before anything imports TensorFlow. It does nothing (and returns False) when
    TensorFlow or Keras is already imported, so code that really uses Keras is never broken.
    """
    if "tensorflow" in sys.modules or sys.modules.get("keras") is not None:
        return False
    # A None entry makes `import keras` raise ImportError without searching for it.
    sys.modules["keras"] = None
    return True
