"""FLOPs of one training iteration of the convolutional DCGAN, counted per layer.

Only multiply-adds of convolutions, transposed convolutions and matmuls are counted (2 FLOPs each);
batch norm, activations, losses and Adam are a fraction of a percent and left out.

For a layer with forward cost F (per image):
  forward                       F
  gradient w.r.t. its weights   F   (only when that network is being updated)
  gradient w.r.t. its input     F   (only when something below it needs a gradient)

One iteration = one D update + `g_steps` G updates:
  D update: G forward (fake images, no gradient), D forward on real and on fake, D backward on
            both (weight gradients everywhere, input gradients for all but D's first layer).
  G update: G forward, D forward on fake, D backward for input gradients only (D's weights are
            not updated, so no weight gradients), G backward (weight gradients everywhere, input
            gradients for all but G's first layer, whose input z needs none).
For carpedm20's 48x48 faces (gf = df = 64, z 100, batch 64, 2 G steps) this is 198.1 GFLOP.
"""

import math


def _halvings(size, count):
    sizes = [size]
    for _ in range(count):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def layer_flops(cfg, kernel=5):
    """Forward FLOPs per image of each layer: (generator [(name, flops)], discriminator [...])."""
    hs, ws = _halvings(cfg.output_height, 4), _halvings(cfg.output_width, 4)
    pixels = [h * w for h, w in zip(hs, ws, strict=True)]  # full, /2, /4, /8, /16
    k2 = kernel * kernel
    gf, df = cfg.gf_dim, cfg.df_dim
    g_channels = [gf * 8, gf * 4, gf * 2, gf, cfg.c_dim]
    generator = [("g_h0_lin", 2 * cfg.z_dim * gf * 8 * pixels[4])]
    for index in range(4):
        # A transposed conv does the work of the conv whose gradient it is: per input pixel,
        # k*k*cin*cout multiply-adds.
        cin, cout = g_channels[index], g_channels[index + 1]
        generator.append((f"g_h{index + 1}", 2 * pixels[4 - index] * k2 * cin * cout))
    d_channels = [cfg.c_dim, df, df * 2, df * 4, df * 8]
    discriminator = []
    for index in range(4):
        cin, cout = d_channels[index], d_channels[index + 1]
        discriminator.append((f"d_h{index}_conv", 2 * pixels[index + 1] * k2 * cin * cout))
    discriminator.append(("d_h4_lin", 2 * df * 8 * pixels[4]))
    return generator, discriminator


def iteration_flops(cfg, batch_size, g_steps=2):
    """Total FLOPs of one iteration (1 D + g_steps G updates) at `batch_size`."""
    generator, discriminator = layer_flops(cfg)
    g_fwd = sum(f for _, f in generator)
    d_fwd = sum(f for _, f in discriminator)
    g_first, d_first = generator[0][1], discriminator[0][1]
    d_update = g_fwd + 2 * d_fwd + 2 * (d_fwd + (d_fwd - d_first))
    g_update = g_fwd + d_fwd + d_fwd + (g_fwd + (g_fwd - g_first))
    return batch_size * (d_update + g_steps * g_update)


def describe(cfg, batch_size, g_steps=2):
    """Rows (layer, forward MFLOP per image) and the total GFLOP per iteration, for a table."""
    generator, discriminator = layer_flops(cfg)
    rows = [(name, f"{flops / 1e6:.2f}") for name, flops in generator + discriminator]
    return rows, iteration_flops(cfg, batch_size, g_steps) / 1e9
