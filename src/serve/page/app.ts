/// <reference lib="dom" />
/**
 * The drawing page (index.html): draw a digit with mouse, pen or finger, or drop (or choose) a PNG or JPEG
 * picture; every model of the experiment predicts it in this page (label and its confidence, or "unsure"
 * with the best guess when the confidence is below the bundle's threshold; top-3 raw scores; latency of
 * that prediction, from the canvas pixels, or the decoded picture as `digitbench predict` reads a file,
 * through the bundle's own pipeline). Beside the canvas, the image the models see, in the
 * experiment's image shape (/api/experiment's imageShape, e.g. 28×28 or 16×16: a report folder holds one
 * dataset), made by the same normalizeDigit that `digitbench predict` applies to a picture. Below: the
 * report's summary and its misclassified test digits (in that shape); a click puts one on the canvas.
 *
 * State for tests and tools is on the DOM: each model's row has data-model / data-label (the best guess
 * when unsure) / data-unsure ("true" or "false") / data-confidence / data-state, <body data-picture> names
 * the dropped picture being predicted (absent for the canvas), and <body data-predictions="n"> counts the
 * finished prediction rounds.
 */
import type { DecodedImage, DigitModel, Prediction } from '@digitbench/runtime';
import { decodeImage, normalizeDigit, NoInkError } from '@digitbench/runtime';
import type { PageExperiment, PageModel } from '../server.ts';
import { errorText, fetchModel } from './runtime.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const kb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);
const ms = (x: number) => (x < 0.1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(0));

interface Live {
  info: PageModel;
  row: HTMLTableRowElement;
  model?: DigitModel;
}

const canvas = $<HTMLCanvasElement>('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
const preview = $<HTMLCanvasElement>('preview');
const status = $<HTMLSpanElement>('status');
let live: Live[] = [];
let rounds = 0;
/** A dropped or chosen picture, predicted as it was decoded (not the canvas) until the next stroke or Clear. */
let picture: { name: string; image: DecodedImage } | undefined;
/** Height × width of the experiment's images (set from /api/experiment before anything is drawn). */
let shape: readonly [number, number] = [28, 28];

function clearCanvas(): void {
  setPicture(undefined);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const p = preview.getContext('2d')!;
  p.fillStyle = '#000';
  p.fillRect(0, 0, preview.width, preview.height);
  for (const m of live) if (m.model) setRow(m, undefined, undefined);
}

function setPicture(p: typeof picture): void {
  picture = p;
  if (p) document.body.dataset.picture = p.name;
  else delete document.body.dataset.picture;
}

/**
 * The label cell (the label, or "unsure" over the best guess) and the confidence cell: the calibrated
 * confidence and the threshold it is held against, or the raw one when the bundle has no trust.
 */
function setAnswer(m: Live, p: Prediction | undefined): void {
  const label = m.row.cells[1];
  const conf = m.row.cells[2];
  m.row.dataset.label = p ? String(p.label) : '';
  m.row.dataset.unsure = p ? String(p.unsure) : '';
  m.row.dataset.confidence = p?.confidence === undefined ? '' : String(p.confidence);
  m.row.classList.toggle('unsure', p?.unsure === true);
  if (!p) {
    label!.textContent = '';
    conf!.textContent = '';
    return;
  }
  if (p.unsure) label!.replaceChildren(el('span', 'unsure', 'unsure'), el('span', `best guess ${p.name}`, 'guess'));
  else label!.textContent = p.name;
  const trust = m.model?.trust;
  const threshold = trust?.reject.threshold;
  if (p.confidence === undefined) {
    conf!.textContent = '—';
    conf!.title = 'This model has no scores: there is no confidence, and no answer is unsure.';
    return;
  }
  const value = p.confidence.toFixed(3);
  conf!.textContent = !trust ? `${value} (raw)` : threshold === null ? `${value} (none is sure)` : p.unsure ? `${value} < ${threshold!.toFixed(3)}` : value;
  conf!.title = !trust
    ? 'This bundle has no calibration or threshold (fitted without a validation part): the confidence is its raw score and no answer is unsure.'
    : threshold === null
      ? `No confidence reached ${pct(trust.reject.targetAccuracy)} accuracy on the run's ${trust.calibration.validationRows} validation rows, so every answer is unsure.`
      : `Calibrated on the run's ${trust.calibration.validationRows} validation rows; below ${threshold!.toFixed(3)} the answer is unsure (the answers above it were ${pct(trust.reject.validation.accuracy)} right there, target ${pct(trust.reject.targetAccuracy)}).`;
}

function setRow(m: Live, p: Prediction | undefined, latency: number | undefined): void {
  const cells = m.row.cells;
  setAnswer(m, p);
  // Probabilities as they are; votes or decision values relative to the largest shown.
  const top = p?.top ?? [];
  const scale = top.every((t) => t.score >= 0 && t.score <= 1) ? 1 : Math.max(...top.map((t) => Math.abs(t.score)), 1e-9);
  cells[3]!.replaceChildren(
    ...top.map((t) => {
      const d = el('div', undefined, 'top');
      const bar = el('span', undefined, 'bar');
      bar.style.width = `${Math.max(1, Math.round((Math.max(0, t.score) / scale) * 60))}px`;
      d.append(bar, `${t.name} ${t.score.toFixed(3)}`);
      return d;
    }),
  );
  cells[4]!.textContent = latency === undefined ? '' : `${ms(latency)} ms`;
}

/** h×w grey pixels (0..255) as an ImageData; `invert` draws them as ink on paper. */
function greyImage(pixels: ArrayLike<number>, offset: number, invert: boolean): ImageData {
  const [h, w] = shape;
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const g = Math.round(pixels[offset + i]!);
    const v = invert ? 255 - g : g;
    img.data.set([v, v, v, 255], i * 4);
  }
  return img;
}

/** The preview canvas sized to the shape's aspect ratio (longer side 112 px), with its caption. */
function setUpPreview(): void {
  const [h, w] = shape;
  const scale = 112 / Math.max(h, w);
  preview.width = Math.max(1, Math.round(w * scale));
  preview.height = Math.max(1, Math.round(h * scale));
  preview.dataset.shape = `${h}x${w}`;
  preview.setAttribute('aria-label', `The ${h}×${w} image the models see`);
  $('preview-caption').textContent = `What the models see: ${h}×${w}, normalized as `;
  $('preview-caption').append(el('code', 'digitbench predict'), ' does');
}

function showPreview(pixels: Float32Array): void {
  const [h, w] = shape;
  const small = new OffscreenCanvas(w, h);
  small.getContext('2d')!.putImageData(greyImage(pixels, 0, false), 0, 0);
  const p = preview.getContext('2d')!;
  p.imageSmoothingEnabled = false;
  p.drawImage(small, 0, 0, preview.width, preview.height);
}

let busy = false;
let again = false;

/** Every model on the canvas as it is now; a call while a round runs schedules one more round. */
async function predictAll(): Promise<void> {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    do {
      again = false;
      const image = picture ? undefined : ctx.getImageData(0, 0, canvas.width, canvas.height);
      const rgba: DecodedImage = picture?.image ?? { width: image!.width, height: image!.height, channels: 4, data: image!.data as unknown as Uint8Array };
      try {
        showPreview(normalizeDigit(rgba, picture?.name ?? 'the canvas', shape));
      } catch (e) {
        if (!(e instanceof NoInkError)) throw e;
        status.textContent = picture ? `${picture.name}: no digit in it (every pixel the same shade); draw one or drop another picture.` : 'Draw a digit.';
        for (const m of live) if (m.model) setRow(m, undefined, undefined);
        continue;
      }
      for (const m of live) {
        if (!m.model) continue;
        const t = performance.now();
        const [p] = await m.model.predict(rgba, { top: 3 });
        setRow(m, p, performance.now() - t);
      }
      status.textContent = '';
    } while (again);
  } catch (e) {
    status.textContent = errorText(e);
  } finally {
    busy = false;
    document.body.dataset.predictions = String(++rounds);
  }
}

function setUpDrawing(): void {
  let drawing = false;
  let last: [number, number] | undefined;
  let frame = 0;
  const at = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  const line = (a: [number, number], b: [number, number]) => {
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 20;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...a);
    ctx.lineTo(...b);
    ctx.stroke();
  };
  canvas.addEventListener('pointerdown', (e) => {
    // A stroke on a dropped picture: from now on the canvas (the picture as shown, and the stroke) is predicted.
    setPicture(undefined);
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    line(last, last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing || !last) return;
    const p = at(e);
    line(last, p);
    last = p;
    // Live: at most one round per frame while drawing.
    if (!frame) frame = requestAnimationFrame(() => ((frame = 0), void predictAll()));
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    last = undefined;
    void predictAll();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    clearCanvas();
    status.textContent = 'Draw a digit.';
  });
  const file = $<HTMLInputElement>('file');
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void usePicture(f, f.name);
    file.value = '';
  });
  canvas.addEventListener('dragover', (e) => e.preventDefault());
  canvas.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer?.files[0];
    if (f) void usePicture(f, f.name);
  });
}

/**
 * A dropped or chosen PNG/JPEG: decoded by the runtime's browser decodeImage and predicted as it is (the
 * models normalize it as `digitbench predict` does a file), and shown on the canvas, fitted, on white.
 */
async function usePicture(file: Blob, name: string): Promise<void> {
  let image: DecodedImage;
  try {
    image = await decodeImage(file, name);
  } catch (e) {
    status.textContent = errorText(e);
    return;
  }
  clearCanvas();
  const full = new OffscreenCanvas(image.width, image.height);
  full.getContext('2d')!.putImageData(new ImageData(Uint8ClampedArray.from(image.data), image.width, image.height), 0, 0);
  const scale = Math.min(canvas.width / image.width, canvas.height / image.height);
  const [w, h] = [image.width * scale, image.height * scale];
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.drawImage(full, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  setPicture({ name, image });
  await predictAll();
}

async function testImages(): Promise<{ pixels: Uint8Array; size: number }> {
  const res = await fetch('/api/test-images');
  const size = Number(res.headers.get('x-image-size'));
  return { pixels: new Uint8Array(await res.arrayBuffer()), size };
}

/** A test digit (light on black, h×w) drawn on the canvas as ink on paper, filling it as a drawing would. */
function drawDigit(pixels: Uint8Array, offset: number): void {
  const [h, w] = shape;
  const small = new OffscreenCanvas(w, h);
  small.getContext('2d')!.putImageData(greyImage(pixels, offset, true), 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  void predictAll();
}

function setUpMisclassified(exp: PageExperiment): void {
  const select = $<HTMLSelectElement>('mis-model');
  const box = $<HTMLDivElement>('misclassified');
  let images: Promise<{ pixels: Uint8Array; size: number }> | undefined;
  for (const m of exp.models) select.append(new Option(`${m.label} (${m.misclassified.length}${m.misclassified.length === 60 ? '+' : ''})`, m.label));
  const name = (l: number) => exp.classNames[l] ?? String(l);
  const show = async () => {
    const m = exp.models.find((x) => x.label === select.value);
    if (!m) return;
    const { pixels, size } = await (images ??= testImages());
    box.replaceChildren(
      ...m.misclassified.map((x) => {
        const f = el('figure');
        const c = el('canvas');
        c.width = shape[1];
        c.height = shape[0];
        // 56 px on the longer side, keeping the aspect ratio (the stylesheet's 56×56 is for square shapes).
        c.style.width = `${Math.round((56 * shape[1]) / Math.max(...shape))}px`;
        c.style.height = `${Math.round((56 * shape[0]) / Math.max(...shape))}px`;
        c.getContext('2d')!.putImageData(greyImage(pixels, x.row * size, false), 0, 0);
        f.title = `test row ${x.row}: true ${name(x.truth)}, ${m.label} said ${name(x.predicted)}`;
        f.append(c, el('figcaption', `${name(x.truth)} → ${name(x.predicted)}`));
        f.addEventListener('click', () => drawDigit(pixels, x.row * size));
        return f;
      }),
    );
    if (!m.misclassified.length) box.append(el('p', 'None: every test digit right.'));
  };
  select.addEventListener('change', () => void show());
  void show();
}

/** The report's test figures at the run's threshold: the share answered and how many of those were right. */
function sureText(m: PageModel): string {
  const s = m.sure;
  if (!s) return 'no threshold';
  if (s.threshold === null) return `none reach ${pct(s.targetAccuracy)}`;
  return `${pct(s.coverage)}${s.accuracy === null ? '' : ` (${pct(s.accuracy)} right)`}`;
}

function fillSummary(exp: PageExperiment): void {
  $('experiment-name').textContent = exp.name;
  $('experiment-meta').textContent = `${exp.dataset}: ${exp.split.train} training, ${exp.split.validation} validation and ${exp.split.test} test rows (split ${exp.split.fingerprint}); page built with ${exp.bundler}; ${globalThis.crossOriginIsolated ? 'cross-origin isolated (tfjs-wasm may use threads)' : 'not cross-origin isolated (one thread)'}.`;
  const body = $<HTMLTableElement>('summary').tBodies[0]!;
  exp.models.forEach((m, i) => {
    const tr = el('tr');
    tr.append(
      el('td', String(i + 1), 'num'),
      el('td', m.label),
      el('td', m.features.join(' → ') || 'raw'),
      el('td', pct(m.accuracy), 'num'),
      el('td', kb(m.bundleBytes), 'num'),
      el('td', m.node ? `${ms(m.node.latencyMsP50)} / ${ms(m.node.latencyMsP95)}` : '', 'num'),
      el('td', m.node ? ms(m.node.coldStartMs) : '', 'num'),
      el('td', sureText(m), 'num'),
    );
    body.append(tr);
  });
  if (exp.others.length) $('others').textContent = `Not on this page: ${exp.others.map((o) => `${o.classifier} (${o.status}: ${o.reason})`).join('; ')}.`;
}

async function main(): Promise<void> {
  const exp = (await (await fetch('/api/experiment')).json()) as PageExperiment;
  shape = [exp.imageShape[0], exp.imageShape[1]];
  setUpPreview();
  fillSummary(exp);
  const body = $<HTMLTableElement>('models').tBodies[0]!;
  live = exp.models.map((info) => {
    const row = el('tr');
    row.dataset.model = info.label;
    row.dataset.state = 'loading';
    if (info.picked) row.classList.add('picked');
    row.append(el('td', info.label), el('td', '', 'label'), el('td', '', 'num'), el('td'), el('td', '', 'num'), el('td', pct(info.accuracy), 'num'), el('td', 'loading…'));
    body.append(row);
    return { info, row };
  });
  clearCanvas();
  setUpDrawing();
  setUpMisclassified(exp);
  await Promise.all(
    live.map(async (m) => {
      const unavailable = (reason: string, shown: string) => {
        m.row.dataset.state = 'unavailable';
        m.row.classList.add('unavailable');
        m.row.cells[1]!.textContent = '—';
        m.row.cells[6]!.textContent = shown;
        m.row.dataset.reason = reason;
      };
      // The server's reason (a bundle it cannot decode, a plugin neither built in nor passed with --plugin,
      // or one that cannot be bundled for a browser): its bundle is not loaded.
      if (m.info.unavailable) return unavailable(m.info.unavailable, m.info.unavailable);
      try {
        const loaded = await fetchModel(m.info.bundle, m.info.bundle.split('/').pop()!);
        m.model = loaded.model;
        m.row.dataset.state = 'ready';
        m.row.cells[6]!.textContent = loaded.model.engine();
      } catch (e) {
        unavailable(errorText(e), `cannot run in this browser: ${errorText(e)}`);
      }
    }),
  );
  const ready = live.filter((m) => m.model).length;
  status.textContent = `${ready} of ${live.length} models ready. Draw a digit.`;
  document.body.dataset.state = 'ready';
}

main().catch((e: unknown) => {
  status.textContent = `The page could not start: ${errorText(e)}`;
  document.body.dataset.state = 'failed';
});
