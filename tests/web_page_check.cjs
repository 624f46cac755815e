// Drives the exported page in headless Chromium (playwright-core) and prints one JSON line:
// console errors, the pixels of the face for a seed, timings, the layout in a phone-sized
// window; saves a screenshot of each width (SCREENSHOT and SCREENSHOT-NARROW.png). With HANDLE
// the page opens at URL#HANDLE, and the report adds the face it shows for the handle (from the
// address, then typed in the box) and the message a damaged handle gets.
//   node web_page_check.cjs URL SEED SCREENSHOT.png [HANDLE [CHROMIUM]]
// Used by tests/test_browser.py and bench/export_speed.py. Only loopback is reachable.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, seedText, screenshot, handle = '', executable = '/usr/bin/chromium'] =
  process.argv.slice(2);
const NARROW = 400; // a phone's width in CSS pixels
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The page's layout in a window `width` px wide: how wide the document scrolls, the right edge
// of its furthest element, and the size of a grid tile and of the face.
async function layoutAt(page, width, screenshot) {
  await page.setViewportSize({ width, height: 800 });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve())));
  await page.screenshot({ path: screenshot, fullPage: true });
  return page.evaluate((viewport) => {
    const rights = [...document.querySelectorAll('body *')]
      .map((element) => element.getBoundingClientRect().right);
    const box = (selector) => document.querySelector(selector).getBoundingClientRect();
    return {
      viewport, scrollWidth: document.documentElement.scrollWidth, right: Math.max(...rights),
      tile: box('#grid canvas').width, face: box('#face').width,
    };
  }, width);
}

// The pixels of the face on show, once it is the face of `source` (a seed or handle's text).
async function faceOf(page, source) {
  await page.waitForFunction((shown) => {
    const face = document.getElementById('face');
    return face.dataset.seed === shown && Number(face.dataset.t) === 0;
  }, source, { timeout: 30000 });
  return page.evaluate(() => {
    const canvas = document.getElementById('face');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return { width: canvas.width, height: canvas.height, rgba: Array.from(data) };
  });
}

// Type `source` into the seed box and press Show.
async function show(page, source) {
  await page.fill('#seed', source);
  await page.click('#show');
}

// The handle's face from the address (the page was opened at URL#HANDLE) and from the box, and
// what the page says to the handle with its last character cut off.
async function checkHandle(page) {
  const fromAddress = await faceOf(page, handle);
  await show(page, seedText);
  await faceOf(page, seedText);
  await show(page, handle.slice(0, -1));
  await page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
  const damaged = await page.textContent('#status');
  await show(page, handle);
  const fromBox = await faceOf(page, handle);
  const recovered = !(await page.evaluate(() => document.getElementById('status').classList.contains('error')));
  return { fromAddress, fromBox, damaged, recovered, address: await page.evaluate(() => location.hash) };
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dcgan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: executable, headless: true, args: FLAGS, viewport: { width: 1000, height: 720 },
  });
  const errors = [];
  const offsite = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('requestfailed', (request) => errors.push(`failed: ${request.url()}`));
    // The page must need nothing beyond the server it came from.
    const origin = new URL(url).origin;
    await context.route('**/*', (route) => {
      if (new URL(route.request().url()).origin === origin) return route.continue();
      offsite.push(route.request().url());
      return route.abort();
    });
    await page.goto(handle ? `${url}#${handle}` : url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60000 });
    // Let the first grid arrive, then ask for the face of the seed under test.
    await page.waitForFunction(() => document.querySelector('#grid figure[data-seed]'));
    const handled = handle ? await checkHandle(page) : null;
    await show(page, seedText);
    const face = await faceOf(page, seedText);
    // Several grids in a row for a steady time per image.
    const times = [];
    for (let i = 0; i < 5; i++) {
      const before = await page.evaluate(() => document.body.dataset.msPerImage);
      await page.click('#more');
      await page.waitForFunction((old) => document.body.dataset.msPerImage !== old, before);
      times.push(Number(await page.evaluate(() => document.body.dataset.msPerImage)));
    }
    await page.screenshot({ path: screenshot });
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    const status = await page.textContent('#status');
    const narrow = await layoutAt(page, NARROW, screenshot.replace(/\.png$/, '-narrow.png'));
    console.log(JSON.stringify({ errors, offsite, face, handled, times, isolated, status, narrow }));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => { console.error(String(error && error.stack || error)); process.exit(1); });
