"""Data preparation: download pictures, fetch the face detector, crop faces, clean a folder.

Separate from the training core: nothing here imports TensorFlow or the trainer, and the trainer
imports nothing from here. What a picture file is comes from `dcgan.pictures`, shared with
training's reader.
"""
