"""Pictures from a trained generator (`python main.py --visualize`)."""

import os

from dcgan import images
from dcgan.session import TrainedGenerator


def sample_grid(settings, seed=None):
    """Write a grid of `num_samples` new images from the newest checkpoint; returns its path."""
    with TrainedGenerator(settings) as generator:
        pictures = generator.generate(generator.sample_z(settings.num_samples, seed))
        path = os.path.join(settings.run_sample_dir, f"grid_{generator.step:05d}.png")
        return images.save_grid(path, pictures)


def visualize(settings, seed=None):
    """Run the visualisation and return the paths written."""
    return [sample_grid(settings, seed)]
