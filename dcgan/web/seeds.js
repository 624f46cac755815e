// Latent vectors from an integer seed: the same numbers as dcgan/portable_random.py, so a seed
// names the same face in the browser and in Python. Keep the two files in step.

export const SEED_LIMIT = 2 ** 32;

// mulberry32: uniform floats k / 2**32 in [0, 1) from a 32-bit state.
export function mulberry32(seed) {
  let state = seed >>> 0;
  return function nextFloat() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / SEED_LIMIT;
  };
}

// The latent vector (Float32Array of zDim) for a seed and the model's z distribution.
export function zForSeed(seed, zDim, zDist) {
  const next = mulberry32(seed);
  const values = [];
  if (zDist === 'uniform_signed') {
    while (values.length < zDim) values.push(2 * next() - 1);
  } else if (zDist === 'uniform_unsigned') {
    while (values.length < zDim) values.push(next());
  } else if (zDist === 'normal01') {
    // Box-Muller on pairs; 1 - u keeps the logarithm finite.
    while (values.length < zDim) {
      const radius = Math.sqrt(-2 * Math.log(1 - next()));
      const angle = 2 * Math.PI * next();
      values.push(radius * Math.cos(angle), radius * Math.sin(angle));
    }
  } else {
    throw new Error(`unknown z distribution ${zDist}`);
  }
  return Float32Array.from(values.slice(0, zDim));
}

// A fresh random seed for "new faces" (not reproducible; the seed shown under each face is).
export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
