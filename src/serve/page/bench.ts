/// <reference lib="dom" />
/**
 * The measuring page (bench.html), driven by `digitbench browser-bench` through Playwright. It holds one
 * model, as a page that deploys one would: the figures are its download, its cold start, its latency per
 * image and its labels, for the Node side to compare with `predict`'s.
 */
import type { DigitModel } from '@digitbench/runtime';
import { errorText, fetchModel, imageRows } from './runtime.ts';

const readyAtMs = performance.now();

/** The smallest step of performance.now() seen in a short loop: coarse (0.1 ms) in a page that is not cross-origin isolated. */
function timerResolutionMs(): number {
  let best = Infinity;
  for (let i = 0; i < 200; i++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    best = Math.min(best, b - a);
  }
  return best;
}

let model: DigitModel | undefined;
let images: { pixels: Uint8Array; rows: number; size: number } | undefined;

async function testImages(): Promise<{ pixels: Uint8Array; rows: number; size: number }> {
  if (!images) {
    const res = await fetch('/api/test-images');
    if (!res.ok) throw new Error(`the server answered ${res.status} for /api/test-images`);
    const size = Number(res.headers.get('x-image-size'));
    const pixels = new Uint8Array(await res.arrayBuffer());
    images = { pixels, size, rows: pixels.length / size };
  }
  return images;
}

export interface ColdStart {
  ok: boolean;
  reason?: string;
  /** performance.now() when this page's script had run: the page, its script and its parse, ms from navigation start. */
  pageMs: number;
  fetchMs: number;
  rebuildMs: number;
  firstPredictMs: number;
  /** pageMs + fetchMs + rebuildMs + firstPredictMs. */
  coldStartMs: number;
  engine?: string;
}

const api = {
  info() {
    return {
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      timerResolutionMs: timerResolutionMs(),
      userAgent: navigator.userAgent,
      hardwareConcurrency: navigator.hardwareConcurrency,
    };
  },

  /** Fetches and rebuilds the bundle at `url`, then predicts `first` (h·w raw pixels). */
  async coldStart(url: string, name: string, first: number[]): Promise<ColdStart> {
    const base = { pageMs: readyAtMs, fetchMs: 0, rebuildMs: 0, firstPredictMs: 0, coldStartMs: 0 };
    try {
      const loaded = await fetchModel(url, name);
      model = loaded.model;
      const t = performance.now();
      await model.predictLabels(imageRows(Uint8Array.from(first), first.length, 0, 1));
      const firstPredictMs = performance.now() - t;
      return { ok: true, ...base, fetchMs: loaded.fetchMs, rebuildMs: loaded.rebuildMs, firstPredictMs, coldStartMs: readyAtMs + loaded.fetchMs + loaded.rebuildMs + firstPredictMs, engine: model.engine() };
    } catch (e) {
      return { ok: false, reason: errorText(e), ...base };
    }
  },

  /**
   * `warmup` calls, then `calls` single-image calls over the test rows in order (one image per call, raw
   * pixels through the bundle's pipeline and model, as the Node measurement does), then every test row
   * in batches of 1,000 for the agreement.
   */
  async measure(warmup: number, calls: number) {
    if (!model) throw new Error('coldStart() first');
    const { pixels, rows, size } = await testImages();
    for (let i = 0; i < warmup; i++) await model.predictLabels(imageRows(pixels, size, i % rows, (i % rows) + 1));
    const times: number[] = [];
    const single: number[] = [];
    for (let c = 0; c < calls; c++) {
      const r = c % rows;
      const one = imageRows(pixels, size, r, r + 1);
      const t = performance.now();
      const label = await model.predictLabels(one);
      times.push(performance.now() - t);
      single.push(label[0]!);
    }
    const batch: number[] = [];
    for (let s = 0; s < rows; s += 1000) batch.push(...(await model.predictLabels(imageRows(pixels, size, s, Math.min(rows, s + 1000)))));
    return { times, single, batch, rows, engine: model.engine(), threads: model.runtime().threads };
  },

  /** The top-3 scores of the given test rows (to explain a disagreement with Node). */
  async top(rowsWanted: number[]) {
    if (!model) throw new Error('coldStart() first');
    const { pixels, size } = await testImages();
    const out = [];
    for (const r of rowsWanted) out.push((await model.predict(imageRows(pixels, size, r, r + 1), { top: 3 }))[0]!);
    return out;
  },

  /** What the page downloaded (gzip-encoded bytes as sent, and decoded), not counting /api/ requests. */
  downloads() {
    const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')] as PerformanceResourceTiming[];
    const files = entries
      .filter((e) => !new URL(e.name).pathname.startsWith('/api/'))
      .map((e) => ({ path: new URL(e.name).pathname, encoded: e.encodedBodySize, decoded: e.decodedBodySize }));
    return { files, encoded: files.reduce((a, f) => a + f.encoded, 0), decoded: files.reduce((a, f) => a + f.decoded, 0) };
  },

  dispose() {
    model?.dispose();
    model = undefined;
  },
};

export type BenchApi = typeof api;
(globalThis as { digitbenchBench?: BenchApi }).digitbenchBench = api;
