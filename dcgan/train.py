"""The training loop: feed, alternate D and G updates, sample, log, checkpoint, resume."""

import logging
import math
import os
import signal
import time

import numpy as np
import tensorflow as tf

from dcgan import checkpoints, data, grids, latent, model, ops, recipes, runtime, transfer
from dcgan.errors import TrainingError, UsageError, describe_os_error
from dcgan.progress import bar as progress_bar
from dcgan.settings import Budget
from dcgan.settings import save as save_run
from dcgan.words import counted

tf1 = tf.compat.v1
log = logging.getLogger(__name__)

SUMMARY_EVERY = 10  # steps between TensorBoard writes
FIXED_Z_SEED = 20161  # the sample grids' latent vectors stay the same across resumes
REALS_FILE = "reals.png"  # the grid of training pictures as the run sees them
SUMMARY_TILES = 16  # generated images in TensorBoard's one grid picture (4 x 4)
# Below this many images a DCGAN mostly learns the images themselves (it memorises instead of
# varying): Karras et al. 2020 (ADA) see discriminator overfitting from a few thousand down.
FEW_IMAGES = 1000


def load_training_data(settings, progress=True):
    """The run's images (and MNIST labels), with the skipped-file report logged once."""
    training_data = data.load(settings.dataset_folder, settings.spec,
                              settings.input_fname_pattern, settings.is_mnist, progress,
                              settings.cache_dir)
    summary = training_data.skipped_summary()
    if summary:
        log.warning(summary)
    usable = len(training_data.images)
    if usable < settings.batch_size:
        raise UsageError(f"{training_data.source} has {usable} usable images, fewer than "
                         f"--batch_size {settings.batch_size}: add images or lower --batch_size")
    if usable < FEW_IMAGES:
        log.warning(few_images_advice(usable, settings.augment))
    return training_data


def few_images_advice(usable, augment):
    """The warning for a dataset too small for varied results, with what to do about it."""
    advice = "collect more pictures"
    if not recipes.parse_augment(augment):
        advice += " or add --augment color,translation (DiffAugment, made for small sets)"
    return (f"only {counted(usable, 'usable image')}: a GAN needs thousands to make varied "
            f"new ones and copies a small set; {advice}")


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps, so a step is never cut short.

    The --minutes budget asks through it too (`time_is_up`), so a cluster's workers agree on
    that stop as on a signal's (DistributedTrainer.stop_now)."""

    def __init__(self):
        self.requested = False
        self.signum = None  # the signal that asked, if one did
        self.out_of_time = False  # whether this process's --minutes budget asked
        self._previous = {}

    def time_is_up(self):
        """Ask to stop because the launch's --minutes are spent (unless a stop is asked)."""
        if not self.requested:
            self.requested = self.out_of_time = True

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        self.signum = signal.Signals(signum)

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def summary_grid(pictures, count):
    """The first `count` of a batch of [-1, 1] pictures as one [1, H, W, C] grid in [0, 1],
    laid out and spaced as grids.make_grid does, for TensorBoard's image summary."""
    rows, cols = grids.grid_shape(count)
    gap = grids.GAP
    tiles = (tf.cast(pictures[:count], tf.float32) + 1.0) / 2.0
    # Fill the last row with black tiles, then pad every tile right and below with the gap.
    tiles = tf.pad(tiles, [[0, rows * cols - count], [0, 0], [0, 0], [0, 0]])
    tiles = tf.pad(tiles, [[0, 0], [0, gap], [0, gap], [0, 0]],
                   constant_values=grids.GAP_VALUE / 255.0)
    _, height, width, channels = tiles.shape
    grid = tf.reshape(tiles, [rows, cols, height, width, channels])
    grid = tf.reshape(tf.transpose(grid, [0, 2, 1, 3, 4]), [1, rows * height, cols * width,
                                                             channels])
    return grid[:, :rows * height - gap, :cols * width - gap]


def real_batches(training_data, batch_size, seed, cfg):
    """The input feed's next batch as float images in [-1, 1] and one-hot labels (or None)."""
    feed = data.make_dataset(training_data, batch_size, seed)
    batch, labels = tf1.data.make_one_shot_iterator(feed).get_next()
    real = tf.cast(batch, tf.float32) / 127.5 - 1.0
    return real, tf.one_hot(labels, cfg.y_dim) if cfg.y_dim else None


def build_gan(settings, real, real_labels, replicas=1):
    """The run's DCGAN on a batch of real images (one replica of `replicas`)."""
    with ops.built_for(settings.precision):
        return model.DCGAN(settings.model, real, real_labels, choices=settings.choices,
                           replicas=replicas)


def summaries(gan, tiles):
    """The TensorBoard summaries of D's and of G's update: (d_summary, g_summary); G's images
    as one grid of `tiles` of them."""
    d_summary = tf1.summary.merge([
        tf1.summary.scalar("d_loss", gan.d_loss),
        tf1.summary.scalar("d_loss_real", gan.d_loss_real),
        tf1.summary.scalar("d_loss_fake", gan.d_loss_fake),
        tf1.summary.histogram("d", gan.d_real),
        tf1.summary.histogram("d_", gan.d_fake)])
    g_summary = tf1.summary.merge([
        tf1.summary.scalar("g_loss", gan.g_loss),
        tf1.summary.image("G", summary_grid(gan.fake_images, tiles), max_outputs=1)])
    return d_summary, g_summary


class TrainingGraph:
    """The training graph of a run: input feed, DCGAN, summaries, checkpointer."""

    def __init__(self, settings, training_data):
        self.graph = tf.Graph()
        with self.graph.as_default():
            if settings.seed is not None:
                tf1.set_random_seed(settings.seed)
            real, real_labels = real_batches(training_data, settings.batch_size, settings.seed,
                                             settings.model)
            self.gan = build_gan(settings, real, real_labels)
            self.d_summary, self.g_summary = summaries(
                self.gan, min(settings.batch_size, SUMMARY_TILES))
            self.checkpointer = checkpoints.Checkpointer(settings.run_checkpoint_dir,
                                                         settings.max_to_keep,
                                                         every=settings.ckpt_freq)
            # A run started --init_from another: its weights, restored when nothing else is.
            self.transfer = settings.init_from and transfer.Transfer(settings.init_from)
            self.graph.finalize()


def _check_finite(step, checkpointer, **losses):
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingError(f"{name} became {value} at step {step}: training diverged and "
                                f"was not saved; {checkpointer.kept()} (resume it with a lower "
                                "--learning_rate)")


class Clock:
    """The --minutes budget of one launch (None: none), counted from the start of its loop."""

    def __init__(self, minutes):
        self.minutes = minutes
        self.started = time.monotonic()
        self.deadline = None if minutes is None else self.started + minutes * 60

    def is_up(self):
        """Whether the budget is spent."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def steps_left(self, steps_done):
        """How many more steps fit in the budget at this launch's pace so far (`steps_done`
        since the start); None without a budget."""
        if self.deadline is None:
            return None
        now = time.monotonic()
        return int(steps_done * max(self.deadline - now, 0.0) / max(now - self.started, 1e-9))


def _last_step(epoch_steps, epochs, budget):
    """The step a launch stops at and the flag that sets it (the final line names it):
    --epoch's or --steps', whichever comes first; (None, None) when only --minutes limits it."""
    limits = []
    if budget.epoch_limit:
        limits.append((epoch_steps, f"--epoch {epochs}"))
    if budget.steps:
        limits.append((budget.steps, f"--steps {budget.steps}"))
    return min(limits, default=(None, None))


class Trainer:
    """Runs one training session for `settings`; `run()` returns the final step.

    `dcgan.distribute.DistributedTrainer` runs the same loop on several devices or machines
    through the hooks `load_data`, `build_graph`, `create_session`, `open_session`,
    `stop_now`, `save_samples` and `after_loop`. `chief`: this process writes checkpoints,
    run.json, sample grids and TensorBoard (in a cluster, one worker does). `budget`: this
    launch's --steps and --minutes (dcgan.settings.Budget), beside the run's --epoch.
    `resumed`: the saved run this launch continues (None: a new run), as `dcgan.runs` found and
    checked it.

    `settings` are final (`dcgan.runs.training_run`): the Trainer reads no run.json and
    applies no default; it writes run.json once, from them. The run's output folders must exist
    (`dcgan.outputs.make_output_folders`, which the command line runs before TensorFlow loads).
    """

    def __init__(self, settings, progress=True, chief=True, budget=None, resumed=None):
        runtime.start()
        settings = runtime.resolve_precision(settings)
        self.settings = settings
        self.chief = chief
        self.progress = progress
        self.resumed = resumed
        self.newest_grid = self.last_losses = None  # for the last line: set as training goes
        self.data = self.load_data()
        usable = len(self.data.images)
        if settings.train_size:
            usable = min(usable, settings.train_size)
        self.steps_per_epoch = usable // settings.batch_size
        if not self.steps_per_epoch:
            raise UsageError(f"--train_size {settings.train_size} is smaller than --batch_size "
                             f"{settings.batch_size}: raise --train_size or lower --batch_size")
        self.budget = budget or Budget()
        self.total_steps, self.limit = _last_step(settings.epoch * self.steps_per_epoch,
                                                  settings.epoch, self.budget)
        self.evaluator = None
        if settings.eval_freq and self.chief:
            from dcgan.evaluate import TrainingEvaluator  # metrics load only when asked for

            self.evaluator = TrainingEvaluator(settings, self.data.images)
        log.info("training on %s (%s an epoch)", counted(usable, "image"),
                 counted(self.steps_per_epoch, "step"))
        self.graph = self.build_graph()
        self.fixed_z = latent.sample_z(np.random.default_rng(FIXED_Z_SEED), settings.num_samples,
                                      settings.model.z_dim, settings.model.z_dist)
        self.fixed_labels = settings.model.labels_for(np.arange(settings.num_samples))

    def load_data(self):
        """The training images (hook: a distributed worker takes turns building the cache)."""
        return load_training_data(self.settings, self.progress)

    def build_graph(self):
        """The training graph (hook: a distributed run builds one replica per device)."""
        return TrainingGraph(self.settings, self.data)

    def create_session(self):
        """A session on the training graph (hook: a worker's session runs on its server)."""
        return tf1.Session(graph=self.graph.graph, config=runtime.session_config(self.settings))

    def stop_now(self, session, stop):
        """Whether to stop before the next step (hook: the workers of a cluster agree)."""
        return stop.requested

    def save_samples(self, session, step):
        """Write the grid of the fixed latent vectors at `step`; returns its path."""
        gan = self.graph.gan
        pictures = session.run(gan.sampler.images,
                               gan.sampler.feed(self.fixed_z, self.fixed_labels))
        path = os.path.join(self.settings.run_sample_dir,
                            f"train_{self.epoch_of(step):02d}_{step:05d}.png")
        self.newest_grid = grids.save_grid(path, pictures)
        return self.newest_grid

    def save_reals(self):
        """Write reals.png: the first --num_samples training pictures after crop and resize,
        tiled as the sample grids are, so the data can be checked before any step."""
        images = self.data.images[:self.settings.num_samples]
        path = os.path.join(self.settings.run_sample_dir, REALS_FILE)
        return grids.save_grid(path, np.asarray(images, np.float32) / 127.5 - 1.0)

    def after_step(self, session, step, writer):
        """Work done between steps: the in-training evaluation every `eval_freq` steps."""
        if self.evaluator is not None and step % self.settings.eval_freq == 0:
            self.evaluator(session, self.graph.gan.sampler, step, writer)

    def after_loop(self, session, step):
        """Work done once the last step is trained, before the final checkpoint (hook: a worker
        stops its watchdog)."""

    def open_session(self):
        """A session on the training graph, restored from the newest checkpoint or initialised;
        returns (session, step)."""
        session = self.create_session()
        step = self.graph.checkpointer.restore_or_initialize(session)
        if self.graph.transfer and self.graph.checkpointer.saved_step is None:  # a new run
            self.graph.transfer.apply(session)
            log.info("starting from the weights of %s", self.graph.transfer.path)
        return session, step

    def step(self, session, step, writer=None):
        """One training iteration at `step`: one D update (`d_update`), then `g_steps` G
        updates.

        Writes TensorBoard summaries every SUMMARY_EVERY steps when `writer` is given; raises
        TrainingError when a loss is not finite. Returns (d_loss, g_loss): D's loss without
        the R1 penalty, comparable from step to step.
        """
        gan, graph = self.graph.gan, self.graph
        log_now = writer is not None and step % SUMMARY_EVERY == 0
        d_fetch = {"op": self.d_update(step), "d_loss": gan.d_loss}
        if log_now:
            d_fetch["summary"] = graph.d_summary
        d_out = session.run(d_fetch)
        for g_index in range(self.settings.g_steps):
            g_fetch = {"op": gan.g_optim, "g_loss": gan.g_loss}
            if log_now and g_index == self.settings.g_steps - 1:
                g_fetch["summary"] = graph.g_summary
            g_out = session.run(g_fetch)
        _check_finite(step, graph.checkpointer, d_loss=d_out["d_loss"], g_loss=g_out["g_loss"])
        if log_now:
            writer.add_summary(d_out["summary"], step)
            writer.add_summary(g_out["summary"], step)
        return d_out["d_loss"], g_out["g_loss"]

    def d_update(self, step):
        """D's update op at `step`: with an R1 penalty, the one that includes it on every
        `r1_every`-th step (step 0, r1_every, ...; lazy regularisation), else the plain one."""
        gan = self.graph.gan
        if gan.d_optim_r1 is not None and step % self.settings.r1_every == 0:
            return gan.d_optim_r1
        return gan.d_optim

    def _progress_bar(self, step):
        """One bar for the whole run, its description naming the epoch (at the start: that of
        the first step it trains)."""
        return progress_bar(total=self.total_steps, initial=step, unit="step",
                            desc=self._epoch_label(step + 1), enabled=self.progress)

    def epoch_of(self, step):
        """The epoch (from 1) that step `step` (from 1) trains in: the number the bar shows and
        the sample grid of that step is named by."""
        return max(step - 1, 0) // self.steps_per_epoch + 1

    def _epoch_label(self, step):
        epoch = self.epoch_of(step)
        if not self.budget.epoch_limit:
            return f"epoch {epoch}"
        return f"epoch {min(epoch, self.settings.epoch)}/{self.settings.epoch}"

    def _loop(self, session, step, stop, writer):
        """Steps until the run is done, its --minutes are spent or a stop is asked for; returns
        (step, last saved step). The clock is read after each step, so a launch trains at least
        one; in a cluster the chief's clock decides, and stop_now makes every worker stop at
        the same step."""
        settings, checkpointer = self.settings, self.graph.checkpointer
        last_saved, started_step, clock = step, step, Clock(self.budget.minutes)
        with self._progress_bar(step) as bar:
            while not self._done(step) and not self.stop_now(session, stop):
                d_loss, g_loss = self.step(session, step, writer)
                self.last_losses = d_loss, g_loss
                step += 1
                rate = settings.batch_size * (step - started_step) / \
                    max(time.monotonic() - clock.started, 1e-9)
                bar.set_description(self._epoch_label(step), refresh=False)
                bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}",
                                img_s=f"{rate:.1f}", refresh=False)
                self._expect_end(bar, step, clock.steps_left(step - started_step))
                bar.update(1)
                if step % settings.sample_freq == 0:
                    self.save_samples(session, step)
                if step % settings.ckpt_freq == 0:
                    checkpointer.save(session, step)
                    last_saved = step
                self.after_step(session, step, writer)
                if self.chief and clock.is_up():
                    stop.time_is_up()
                    bar.total = step  # the bar ends full, at the step the run stops at
        return step, last_saved

    def _done(self, step):
        """Whether `step` is the last step (never, when only --minutes limits the launch)."""
        return self.total_steps is not None and step >= self.total_steps

    def _expect_end(self, bar, step, steps_left):
        """With --minutes, the bar's total (and so its ETA) is the step the run is expected to
        stop at: the last step, or the one the time left reaches at this launch's pace."""
        if steps_left is not None:
            bar.total = min(self.total_steps or step + steps_left, step + steps_left)

    def _train_and_save(self, session, step, stop):
        """The loop, then the final checkpoint and grid; returns the last step.

        A write that fails on the way (a sample grid, a log, on a full disk) is a TrainingError
        that says which file and which checkpoint is intact."""
        checkpointer = self.graph.checkpointer
        try:
            if self.chief:
                self.save_reals()
            writer = tf1.summary.FileWriter(self.settings.run_log_dir) if self.chief else None
            try:
                step, last_saved = self._loop(session, step, stop, writer)
                self.after_loop(session, step)
            finally:
                if writer is not None:
                    writer.close()
            if step != last_saved:
                checkpointer.save(session, step)
            if step % self.settings.sample_freq:
                self.save_samples(session, step)
        except OSError as error:
            raise TrainingError(f"training stopped: {describe_os_error(error)}; "
                                f"{checkpointer.kept()}") from None
        return step

    def run(self):
        """Train until `epoch` epochs are done or a stop is requested; returns the last step.

        Ends with one line: the steps, the time, and where the checkpoint, samples and logs are.
        """
        with checkpoints.RunLock(self.settings.run_checkpoint_dir), StopRequest() as stop:
            return self.train_session(stop)

    def train_session(self, stop):
        """Open (or resume) the session, train, save at the end and say so in one line;
        returns the last step."""
        settings = self.settings
        started = time.time()
        session, step = self.open_session()
        first_step = step
        with session:
            if self.chief:
                # After the restore: it has checked the checkpoints hold these flags' network.
                save_run(settings)
            step = self._train_and_save(session, step, stop)
        log.info(self._summary(step, first_step, time.time() - started, stop))
        return step

    def _of(self):
        return "" if self.total_steps is None else f" of {self.total_steps}"

    def _summary(self, step, first_step, seconds, stop):
        """The last line of a training: what was done, why it stopped, and where each output
        is."""
        settings = self.settings
        newest = f" (newest {os.path.basename(self.newest_grid)})" if self.newest_grid else ""
        where = (f"{self._losses()}checkpoint {settings.run_checkpoint_dir}/ (step {step}), "
                 f"samples {settings.run_sample_dir}/{newest}, logs {settings.run_log_dir}/")
        if stop.out_of_time:
            minutes = f"{self.budget.minutes:g}"
            return f"reached --minutes {minutes}: stopped at step {step}{self._of()} " \
                   f"after {_duration(seconds)}; {where}: the same command trains {minutes} " \
                   "minutes more"
        if stop.requested:
            return f"stopped at step {step}{self._of()} after {_duration(seconds)}; " \
                   f"{where}: the same command resumes"
        flag = self.limit.split()[0]
        if step == first_step:
            return f"nothing to train: step {step} already reaches {self.limit}; pass a " \
                   f"larger {flag} to train on; {where}"
        return f"trained steps {first_step + 1}-{step}{self._of()} in " \
               f"{_duration(seconds)}: reached {self.limit}; {where}"

    def _losses(self):
        """'last losses D 1.234, G 0.987; ', or '' when this launch trained no step."""
        if self.last_losses is None:
            return ""
        return "last losses D {:.3f}, G {:.3f}; ".format(*self.last_losses)


def _duration(seconds):
    """'42 s', '3 min 05 s' or '2 h 07 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


