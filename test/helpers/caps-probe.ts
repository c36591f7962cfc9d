/**
 * Measures one refused input in a process of its own, for test/caps.test.ts:
 *   node --import ./bin/register.js test/helpers/caps-probe.ts readInputs <file>
 *   node --import ./bin/register.js test/helpers/caps-probe.ts decodeImage <file>
 * Prints one JSON line: the wall time of the call, how much the process's peak resident memory (VmHWM) and
 * its resident memory grew during it, and the call's error. The decoder is warmed up (a small PNG decoded) and,
 * for decodeImage, the file is read before the baseline, so only the call itself is measured.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodeImage, readInputs } from '../../src/input/decode.ts';

const [call, file] = process.argv.slice(2) as [string, string];
const status = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

const tiny = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffffff' } }).png().toBuffer();
await decodeImage(tiny, 'warm-up.png');
const bytes = call === 'decodeImage' ? readFileSync(file) : undefined;

const hwm0 = status('VmHWM'), rss0 = status('VmRSS');
const t0 = performance.now();
let error: string | undefined;
try {
  if (call === 'decodeImage') await decodeImage(bytes!, file);
  else error = (await readInputs([file]))[0]?.error;
} catch (e) {
  error = (e as Error).message;
}
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ ms, peakGrowth: status('VmHWM') - hwm0, rssGrowth: status('VmRSS') - rss0, error })}\n`);
