"""dcgan: a TensorFlow (tf.compat.v1 graph mode) DCGAN toolkit for anime faces and friends."""

__version__ = "0.1.0"
