"""A random generator computed bit-for-bit alike in Python and in the browser.

numpy's generators cannot be reproduced in JavaScript, so the web page and this module share a
tiny one: mulberry32 (a 32-bit state advanced by 0x6D2B79F5 and mixed by two multiply-xorshift
rounds) gives uniform floats k / 2**32 in [0, 1). `dcgan.latent` turns them into latent vectors;
`dcgan/web/seeds.js` is the JavaScript twin.
"""

MASK32 = 0xFFFFFFFF
SEED_LIMIT = 2 ** 32  # seeds are unsigned 32-bit integers
_INCREMENT = 0x6D2B79F5


class Mulberry32:
    """The mulberry32 generator: `next_uint32()` and `next_float()` in [0, 1)."""

    def __init__(self, seed):
        self.state = int(seed) & MASK32

    def next_uint32(self):
        """The next 32-bit output."""
        self.state = (self.state + _INCREMENT) & MASK32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & MASK32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & MASK32)) & MASK32) ^ t
        return (t ^ (t >> 14)) & MASK32

    def next_float(self):
        """The next uniform float in [0, 1) with 32 random bits."""
        return self.next_uint32() / SEED_LIMIT
