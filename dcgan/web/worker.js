// Runs the generator off the page's thread: onnxruntime-web (wasm) on generator.onnx.
// Messages in:  {type: 'init'} and {type: 'generate', id, items: [{seed, seedB, t, digit}]}
//               (seed and seedB: a seed number or a handle's text, as seeds.js readSource gives)
// Messages out: {type: 'ready', model, threads}, {type: 'images', id, pixels, msPerImage},
//               {type: 'error', id, message}
import * as ort from './ort.wasm.min.mjs';
import { zFor } from './seeds.js';

const here = new URL('./', import.meta.url).href;
let session = null;
let model = null;

async function init() {
  model = await (await fetch(new URL('model.json', here))).json();
  ort.env.wasm.wasmPaths = here;
  // Threads need cross-origin isolation (python main.py --serve sends the headers).
  ort.env.wasm.numThreads = self.crossOriginIsolated
    ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  session = await ort.InferenceSession.create(new URL('generator.onnx', here).href, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  await run([{ seed: 0 }]); // warm-up, so the first timing shown is a fair one
  return { type: 'ready', model, threads: ort.env.wasm.numThreads };
}

// One item's latent vector: a seed's (or a handle's), or a straight mix of two at position t.
function latent(item) {
  const a = zFor(item.seed, model.z_dim, model.z_dist);
  if (!item.t || item.seedB === undefined) return a;
  const b = zFor(item.seedB, model.z_dim, model.z_dist);
  return a.map((value, i) => (1 - item.t) * value + item.t * b[i]);
}

async function run(items) {
  const count = items.length;
  const z = new Float32Array(count * model.z_dim);
  items.forEach((item, i) => z.set(latent(item), i * model.z_dim));
  const feeds = { [model.inputs.z]: new ort.Tensor('float32', z, [count, model.z_dim]) };
  if (model.labels) {
    const classes = model.labels.classes;
    const y = new Float32Array(count * classes);
    items.forEach((item, i) => { y[i * classes + (item.digit || 0)] = 1; });
    feeds[model.labels.input] = new ort.Tensor('float32', y, [count, classes]);
  }
  const start = performance.now();
  const output = await session.run(feeds);
  const ms = performance.now() - start;
  return { pixels: toRgba(output[model.output].data, count), msPerImage: ms / count };
}

// [-1, 1] NHWC floats -> RGBA bytes, image after image. Uint8ClampedArray rounds half to even
// and clips, exactly like numpy's rint + clip in dcgan.images.to_uint8.
function toRgba(values, count) {
  const pixelsPerImage = model.output_height * model.output_width;
  const channels = model.channels;
  const rgba = new Uint8ClampedArray(count * pixelsPerImage * 4);
  for (let p = 0; p < count * pixelsPerImage; p++) {
    for (let c = 0; c < 3; c++) {
      rgba[p * 4 + c] = (values[p * channels + (channels === 1 ? 0 : c)] + 1) * 127.5;
    }
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') {
      self.postMessage(await init());
    } else if (data.type === 'generate') {
      const result = await run(data.items);
      self.postMessage({ type: 'images', id: data.id, ...result }, [result.pixels.buffer]);
    }
  } catch (error) {
    self.postMessage({ type: 'error', id: data.id, message: String(error && error.message || error) });
  }
};
