/** Sizes in messages (no Node built-ins: the browser decoder uses it too). */
/** A size for people, in decimal units: 512 bytes, 1.5 kB, 51.2 MB, 2.1 GB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = n / 1000, u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[u]}`;
}
