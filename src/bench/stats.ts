export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `f` `times` times and returns every duration in seconds with the last result. */
export async function timeRepeated<T>(times: number, f: () => Promise<T>): Promise<{ seconds: number[]; result: T }> {
  const seconds: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    result = await f();
    seconds.push((performance.now() - t) / 1000);
  }
  return { seconds, result: result as T };
}
