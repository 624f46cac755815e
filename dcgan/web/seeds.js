// Latent vectors from an integer seed: the same numbers as dcgan/portable_random.py, so a seed
// names the same face in the browser and in Python; and from a handle, the text
// dcgan/latent.py's to_handle writes for any vector (a projected face's). Keep them in step.

export const SEED_LIMIT = 2 ** 32;
// A handle: this prefix, then the vector's float16 values (little-endian) in URL-safe base64
// without padding (dcgan/latent.py, HANDLE_PREFIX).
export const HANDLE_PREFIX = 'z16.';

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

// One float16 (its 16 bits) as a number: exact, as every float16 is a float32 too.
function halfToNumber(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// The latent vector (Float32Array of zDim) of a handle; throws an Error saying what is wrong
// with any other text (the messages of dcgan.latent.from_handle).
export function zForHandle(handle, zDim) {
  const text = handle.trim();
  const shown = text.length <= 24 ? text : `${text.slice(0, 20)}...`;
  if (!text.startsWith(HANDLE_PREFIX)) {
    throw new Error(`'${shown}' is not a z handle: a handle starts with "${HANDLE_PREFIX}"`);
  }
  const body = text.slice(HANDLE_PREFIX.length);
  const damaged = new Error(`The z handle '${shown}' is damaged (cut short or mistyped): copy it whole.`);
  // A length of 1 mod 4 is no base64 at all (atob would throw); the round trip below refuses
  // the rest that to_handle never writes: stray bits in the last character, half a float16.
  if (!/^[A-Za-z0-9_-]+$/.test(body) || body.length % 4 === 1) throw damaged;
  const binary = atob(body.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - body.length % 4) % 4));
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  const reencoded = btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  if (bytes.length % 2 || reencoded !== body) throw damaged;
  const count = bytes.length / 2;
  if (count !== zDim) {
    throw new Error(`The z handle holds ${count} numbers and this model's z has ${zDim}: ` +
      'it is a vector of another run.');
  }
  const z = new Float32Array(count);
  for (let i = 0; i < count; i++) z[i] = halfToNumber(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  if (!z.every(Number.isFinite)) throw new Error(`The z handle '${shown}' holds NaN or infinite values.`);
  return z;
}

// What the user typed in a seed box or after # in the address: a seed (a number) or a handle
// (the text itself); throws an Error saying what is wrong otherwise.
export function readSource(text, zDim) {
  const typed = text.trim();
  if (typed.startsWith(HANDLE_PREFIX)) {
    zForHandle(typed, zDim);
    return typed;
  }
  const seed = Number(typed);
  if (typed === '' || !Number.isInteger(seed) || seed < 0 || seed >= SEED_LIMIT) {
    throw new Error(`A seed is a whole number from 0 to ${SEED_LIMIT - 1}; a projected face's ` +
      `handle starts with "${HANDLE_PREFIX}".`);
  }
  return seed;
}

// The latent vector of a seed or a handle (as readSource returns them).
export function zFor(source, zDim, zDist) {
  return typeof source === 'string' ? zForHandle(source, zDim) : zForSeed(source, zDim, zDist);
}

// A fresh random seed for "new faces" (not reproducible; the seed shown under each face is).
export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
