/**
 * Editing bundle bytes the way a deliberate forger would: the header JSON rewritten (any length), the
 * prefix's lengths and the SHA-256 trailer recomputed, so only the content is wrong, never the framing.
 */
import { createHash } from 'node:crypto';

const PREFIX = 24;
const CHECKSUM = 32;
const align8 = (n: number) => (n + 7) & ~7;

/** The header JSON of a bundle (as text) and its version field. */
export function headerOf(bytes: Uint8Array): { json: string; version: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(12, true);
  return { json: new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + length)), version: view.getUint32(8, true) };
}

/** Recomputes the SHA-256 trailer over everything before it (in place) and returns the bytes. */
export function reseal(bytes: Uint8Array): Uint8Array {
  bytes.set(createHash('sha256').update(bytes.subarray(0, bytes.length - CHECKSUM)).digest(), bytes.length - CHECKSUM);
  return bytes;
}

/**
 * A new bundle with the header JSON replaced by `edit(json)` (any length) and, if given, another
 * version; the data region is kept as it was, the lengths and checksum are made consistent.
 */
export function reframe(bytes: Uint8Array, edit: (json: string) => string, version?: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const oldLength = view.getUint32(12, true);
  const data = bytes.subarray(align8(PREFIX + oldLength), bytes.length - CHECKSUM);
  const json = new TextEncoder().encode(edit(headerOf(bytes).json));
  const dataStart = align8(PREFIX + json.length);
  const total = dataStart + data.length + CHECKSUM;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set(bytes.subarray(0, 12), 0);
  if (version !== undefined) v.setUint32(8, version, true);
  v.setUint32(12, json.length, true);
  v.setFloat64(16, total, true);
  out.set(json, PREFIX);
  out.set(data, dataStart);
  return reseal(out);
}
