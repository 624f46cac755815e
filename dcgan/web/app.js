// The page: a grid of new faces (once or endlessly), one face by its seed or a projected face's
// handle (typed in the box, or after # in the address), a morph between two, a download. All
// generation happens in worker.js; this thread only draws.
import { randomSeed, readSource } from './seeds.js';

const GRID_SIZE = 16;
const ENDLESS_PAUSE_MS = 400; // time to look at a grid before the next one replaces it

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let model = null;
let busy = false;
let nextId = 0;
let endlessTimer = null;
let modelStatus = '';
const waiting = new Map(); // request id -> callback
const queued = { face: null, grid: null }; // newest unsent request of each kind

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

// One request at a time; the newest request of a kind replaces an older unsent one, so a
// dragged slider never builds a backlog. The single face goes before the grid.
function request(kind, items, onImages) {
  queued[kind] = { items, onImages };
  pump();
}

function pump() {
  if (busy || !model) return;
  const kind = queued.face ? 'face' : queued.grid ? 'grid' : null;
  if (!kind) return;
  const { items, onImages } = queued[kind];
  queued[kind] = null;
  busy = true;
  const id = nextId++;
  waiting.set(id, onImages);
  worker.postMessage({ type: 'generate', id, items });
}

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    model = data.model;
    modelStatus = `${model.run}, step ${model.step}: ${model.output_width}x` +
      `${model.output_height} images from ${model.z_dim} numbers; onnxruntime-web wasm, ` +
      `${data.threads} thread(s)`;
    setStatus(modelStatus);
    start();
    return;
  }
  busy = false;
  const onImages = waiting.get(data.id);
  waiting.delete(data.id);
  if (data.type === 'error') {
    setStatus(`Generation failed: ${data.message}`, true);
  } else {
    $('timing').textContent = `${data.msPerImage.toFixed(2)} ms per image`;
    document.body.dataset.msPerImage = data.msPerImage;
    onImages(data.pixels);
  }
  pump();
};
worker.onerror = (event) => setStatus(`The generator could not start: ${event.message}`, true);

// Draw image `index` of a batch of RGBA pixels onto a canvas of the model's size.
function draw(canvas, pixels, index) {
  const { output_width: width, output_height: height } = model;
  canvas.width = width;
  canvas.height = height;
  const size = width * height * 4;
  const image = new ImageData(pixels.slice(index * size, (index + 1) * size), width, height);
  canvas.getContext('2d').putImageData(image, 0, 0);
}

function digitFor(index) {
  if (!model.labels) return 0;
  const chosen = $('digit').value;
  return chosen === 'all' ? index % model.labels.classes : Number(chosen);
}

function newGrid() {
  const items = Array.from({ length: GRID_SIZE }, (_, i) => ({ seed: randomSeed(), digit: digitFor(i) }));
  request('grid', items, (pixels) => {
    const figures = $('grid').children;
    items.forEach((item, i) => {
      draw(figures[i].querySelector('canvas'), pixels, i);
      figures[i].dataset.seed = item.seed;
      figures[i].querySelector('figcaption').textContent = `seed ${item.seed}`;
    });
    clearTimeout(endlessTimer);
    if ($('endless').checked) endlessTimer = setTimeout(newGrid, ENDLESS_PAUSE_MS);
  });
}

// A box's seed or handle; null, with the reason shown, for anything else.
function readBox(input) {
  try {
    return readSource(input.value, model.z_dim);
  } catch (error) {
    setStatus(error.message, true);
    return null;
  }
}

function showFace() {
  const seed = readBox($('seed'));
  const seedB = seed === null ? null : readBox($('seed-b'));
  if (seed === null || seedB === null) return;
  setStatus(modelStatus); // a mistake shown before is put right
  // The address names the face on show, so it can be bookmarked or sent.
  history.replaceState(null, '', `#${seed}`);
  const t = Number($('mix').value) / 100;
  $('mix-value').textContent = `${Math.round(t * 100)}%`;
  request('face', [{ seed, seedB, t, digit: digitFor(0) }], (pixels) => {
    const canvas = $('face');
    draw(canvas, pixels, 0);
    Object.assign(canvas.dataset, { seed, seedB, t }); // what is on show (read by tests)
  });
}

function download() {
  const canvas = $('face');
  const link = document.createElement('a');
  const { seed, seedB, t } = canvas.dataset;
  // A handle is too long for a file name: its first characters tell files apart.
  const name = (source) => (Number.isInteger(Number(source)) ? `seed-${source}` : source.slice(0, 12));
  link.download = Number(t) ? `dcgan-${name(seed)}-to-${name(seedB)}-${t}.png` : `dcgan-${name(seed)}.png`;
  link.href = canvas.toDataURL('image/png');
  link.click();
}

// A seed or handle after # in the address goes into the seed box and is shown (both are
// URL-safe as they are: nothing to decode).
function showHashed() {
  const hashed = location.hash.slice(1);
  if (hashed) {
    $('seed').value = hashed;
    $('mix').value = 0;
  }
  showFace();
}

function start() {
  for (let i = 0; i < GRID_SIZE; i++) {
    const figure = document.createElement('figure');
    figure.append(document.createElement('canvas'), document.createElement('figcaption'));
    figure.onclick = () => {
      if (!figure.dataset.seed) return;
      $('seed').value = figure.dataset.seed;
      $('mix').value = 0;
      showFace();
    };
    $('grid').append(figure);
  }
  if (model.labels) {
    for (let d = 0; d < model.labels.classes; d++) $('digit').add(new Option(String(d), d));
    $('digit-label').classList.remove('hidden');
  }
  for (const id of ['more', 'show', 'mix', 'download']) $(id).disabled = false;
  $('more').onclick = newGrid;
  $('endless').onchange = () => { if ($('endless').checked) newGrid(); };
  $('show').onclick = showFace;
  $('seed').onchange = showFace;
  $('seed-b').onchange = showFace;
  $('mix').oninput = showFace;
  $('digit').onchange = () => { newGrid(); showFace(); };
  $('download').onclick = download;
  window.onhashchange = showHashed;
  showHashed();
  newGrid();
  document.body.dataset.ready = 'true';
}

worker.postMessage({ type: 'init' });
