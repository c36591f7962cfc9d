/**
 * The process side of `runIsolated` (run.ts): when forked by the harness, take one request, send
 * progress while handling it, then one {type: 'result'} or {type: 'error'} message, and exit. Used by
 * the run process (child.ts) and the bundle-measuring process (deploy-child.ts).
 */
import type { ChildMessage } from './child.ts';

function send(m: unknown): Promise<void> {
  return new Promise((res) => (process.send ? process.send(m, () => res()) : res()));
}

export function serveOneRequest<Req, Res>(handle: (req: Req, progress: (m: ChildMessage) => void) => Promise<Res>): void {
  if (!process.send || process.env.DIGITBENCH_CHILD !== '1') return;
  // If the harness dies (killed, Ctrl-C), do not live on as an orphan.
  process.on('disconnect', () => process.exit(1));
  process.once('message', (req: Req) => {
    handle(req, (m) => void send(m))
      .then((result) => send({ type: 'result', result }))
      .catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
      .finally(() => process.exit(0));
  });
}
