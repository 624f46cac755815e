"""Saving and restoring checkpoints of a run (tf.compat.v1 Saver)."""

import os

import tensorflow as tf

tf1 = tf.compat.v1

CHECKPOINT_PREFIX = "DCGAN.model"


def latest(folder):
    """Path prefix of the newest complete checkpoint in `folder`, or None."""
    if not os.path.isdir(folder):
        return None
    return tf1.train.latest_checkpoint(folder)


def step_of(checkpoint_path):
    """The training step a checkpoint path was saved at (its numeric suffix)."""
    return int(checkpoint_path.rsplit("-", 1)[1])


class Checkpointer:
    """Saves every variable of the graph under `folder`, keeping the newest `max_to_keep`."""

    def __init__(self, folder, max_to_keep=5, var_list=None):
        self.folder = folder
        self.saver = tf1.train.Saver(var_list=var_list, max_to_keep=max_to_keep)
        # Made here, not on first use, so the graph can be finalised after construction.
        self.initializer = tf1.global_variables_initializer()

    def restore_or_initialize(self, session):
        """Restore the newest checkpoint if any, else initialise; returns the step reached."""
        path = latest(self.folder)
        if path is None:
            session.run(self.initializer)
            return 0
        self.saver.restore(session, path)
        return step_of(path)

    def restore(self, session, path=None):
        """Restore checkpoint `path` (default: the newest, which must exist); returns its step."""
        path = path or latest(self.folder)
        self.saver.restore(session, path)
        return step_of(path)

    def save(self, session, step):
        """Write a checkpoint for `step`; returns its path prefix."""
        os.makedirs(self.folder, exist_ok=True)
        return self.saver.save(session, os.path.join(self.folder, CHECKPOINT_PREFIX),
                               global_step=step, write_meta_graph=False)
