"""Training recipes: named sets of training choices (`--recipe`), and the DiffAugment policy names.

A recipe fixes how the network is trained (carpedm20's linear-projection G, batch norm, sigmoid
cross-entropy stay as they are): the Adam rates of D and G and their decay (`lr_half_life`),
Adam's beta1 and beta2, the G updates per D update, the EMA of G, one-sided label smoothing,
DiffAugment and the lazy R1 penalty on D. It also picks the one network option that keeps
carpedm20's shape, the side of G's stride-2 deconvolution kernels (`G_KERNEL`), for new runs
that do not give `--g_kernel`.
A flag given on the command line overrides its recipe's value; `run.json` records the recipe's
name and every resolved value. Kept free of TensorFlow, so flags are checked before it loads.
"""

from dcgan.errors import UsageError, require

CARPEDM20 = "carpedm20"
FAST = "fast"
# The recipe a new run gets without --recipe, chosen from learning curves (bench/README.md):
# `fast` for pictures; carpedm20's for MNIST's small conditional network, where `fast` drew
# worse digits that followed their labels less (README command 1's 390 steps, side by side).
DEFAULT = FAST
DIGITS_DEFAULT = CARPEDM20

# What DiffAugment can do to D's inputs, in the order they are applied (as in Zhao et al.).
AUGMENT_POLICIES = ("color", "translation", "cutout")

# The training choices a recipe sets. Every recipe gives each of them a value, so a run's
# settings never depend on where a default was written.
RECIPES = {
    # carpedm20/DCGAN-tensorflow exactly: Adam 2e-4 / 0.5 for both nets, 2 G updates per D
    # update, no EMA, no label smoothing, no augmentation, no R1 penalty.
    CARPEDM20: {"learning_rate": 2e-4, "d_learning_rate": 2e-4, "g_learning_rate": 2e-4,
                "beta1": 0.5, "beta2": 0.999, "g_steps": 2, "ema": 0.0, "ema_start": 0,
                "label_smoothing": 1.0, "augment": "", "r1_gamma": 0.0, "r1_every": 16,
                "lr_half_life": 0},
    # The default for pictures: one G update (more iterations per minute), a faster G (TTUR),
    # EMA of G from step 500, real target 0.9, DiffAugment translation + color, no R1 (it
    # steadied the curve but blurred the faces), 4x4 G kernels (G_KERNEL), Adam without
    # momentum (beta1 0: faces twice as soon, and more varied ones) and both rates halving
    # every 750 steps from step 750 (with beta1 0 and rates held to 1,500 the faces washed out
    # at 2,000). bench/README.md has the learning curves against carpedm20's and the earlier
    # defaults' (beta1 0.5, halving from 1,500, which kept improving to 7,000 steps).
    FAST: {"learning_rate": 2e-4, "d_learning_rate": 2e-4, "g_learning_rate": 4e-4,
           "beta1": 0.0, "beta2": 0.999, "g_steps": 1, "ema": 0.999, "ema_start": 500,
           "label_smoothing": 0.9, "augment": "color,translation", "r1_gamma": 0.0,
           "r1_every": 16, "lr_half_life": 750},
}
KNOBS = tuple(RECIPES[CARPEDM20])
# The kernel side of G's stride-2 deconvolutions a new run gets from its recipe (a network
# setting, not a knob: a resumed run keeps its own). 4 overlaps evenly at stride 2 (no
# checkerboard, Odena et al. 2016) and measured far better with `fast` (bench/README.md:
# SWD 37.1 vs 53.3 at 2,000 steps, no white holes) at 0.8x the time per iteration.
G_KERNEL = {CARPEDM20: 5, FAST: 4}
NET_RATES = ("d_learning_rate", "g_learning_rate")


def default_for(digits):
    """The recipe a new run gets without --recipe: DIGITS_DEFAULT for MNIST's conditional
    network (`digits` true), DEFAULT for pictures."""
    return DIGITS_DEFAULT if digits else DEFAULT


def parse_augment(text):
    """`--augment` as the tuple of policies it names, in the order they are applied.

    Takes comma-separated names in any order; "", "none" or None mean no augmentation.
    Raises UsageError naming an unknown policy.
    """
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    if names == ["none"]:
        return ()
    for name in names:
        require(name in AUGMENT_POLICIES,
                f"--augment: unknown policy {name!r}: use a comma-separated list of "
                f"{', '.join(AUGMENT_POLICIES)} (or none)")
    return tuple(policy for policy in AUGMENT_POLICIES if policy in names)


def _rates(recipe, given):
    """D's and G's Adam rates: each one given, else an explicitly given --learning_rate (it
    sets both), else the recipe's."""
    fallback = given.get("learning_rate")
    return {name: given.get(name, recipe[name] if fallback is None else fallback)
            for name in NET_RATES}


def resolve(name, given, base=None):
    """The value of every knob for recipe `name`, with the explicitly `given` ones (a dict,
    knob -> value; None counts as not given) over the recipe's. `base`, when given, stands in
    for the recipe's own values (a resumed run's: it keeps what it trained with). `augment`
    comes back in its canonical form ("" for none). Raises UsageError for an unknown recipe or
    policy."""
    if name not in RECIPES:
        raise UsageError(f"--recipe must be one of {', '.join(RECIPES)}, not {name!r}")
    recipe = RECIPES[name] if base is None else base
    given = {knob: value for knob, value in given.items() if value is not None}
    values = {knob: given.get(knob, recipe[knob]) for knob in KNOBS}
    values.update(_rates(recipe, given))
    values["augment"] = ",".join(parse_augment(values["augment"]))
    return values
