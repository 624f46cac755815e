// The page: a grid of new faces (once or endlessly), one face by its seed, a morph between two
// seeds, a download. All generation happens in worker.js; this thread only draws.
import { SEED_LIMIT, randomSeed } from './seeds.js';

const GRID_SIZE = 16;
const ENDLESS_PAUSE_MS = 400; // time to look at a grid before the next one replaces it

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let model = null;
let busy = false;
let nextId = 0;
let endlessTimer = null;
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
    setStatus(`${model.run}, step ${model.step}: ${model.output_width}x${model.output_height} ` +
      `images from ${model.z_dim} numbers; onnxruntime-web wasm, ${data.threads} thread(s)`);
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

function readSeed(input) {
  const value = Number(input.value);
  if (!Number.isInteger(value) || value < 0 || value >= SEED_LIMIT) {
    setStatus(`A seed is a whole number from 0 to ${SEED_LIMIT - 1}.`, true);
    return null;
  }
  return value;
}

function showFace() {
  const seed = readSeed($('seed'));
  const seedB = readSeed($('seed-b'));
  if (seed === null || seedB === null) return;
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
  link.download = Number(t) ? `dcgan-seed-${seed}-to-${seedB}-${t}.png` : `dcgan-seed-${seed}.png`;
  link.href = canvas.toDataURL('image/png');
  link.click();
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
  newGrid();
  showFace();
  document.body.dataset.ready = 'true';
}

worker.postMessage({ type: 'init' });
