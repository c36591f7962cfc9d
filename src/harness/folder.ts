/**
 * An experiment's output folder: proven writable before anything runs, held by one writer at a time,
 * and, on a fresh start, its previous generation moved aside whole rather than deleted.
 *
 * - **Lock.** `<folder>/.lock` is created exclusively (O_EXCL) and holds the holder's pid, host, experiment
 *   and start time. A second experiment (local or queue coordinator) on the same folder refuses in one line
 *   naming the holder. A lock whose process is gone (same host, pid not alive) is stale and taken over; on
 *   another host the pid cannot be checked, so the message says which file to delete if that process is
 *   gone. The lock is released when the experiment ends, and on process exit as a backstop.
 * - **Generations.** What one experiment start writes (results, side rows, the config beside them, the
 *   run list, the report and its charts, the bundles) is one generation. A fresh start moves the previous
 *   one into `previous/<time>/`, so it can be restored by hand; nothing is deleted. The report's own files
 *   are those its manifest lists (report/write.ts); a folder written before the manifest existed has its
 *   top-level .svg and .png files taken as the report's.
 */
import { existsSync, linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { access, constants, mkdir, readdir, rename, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { REPORT_MANIFEST, reportManifest } from '../report/write.ts';
import { entryKind } from '@digitbench/runtime/internal';

export const LOCK_FILE = '.lock';
/** The manifest `evaluate` writes into its folders (harness/evaluate.ts). */
const EVALUATION_MANIFEST = '.evaluation-files.json';
export const PREVIOUS_DIR = 'previous';

/** The files of one generation besides the report's (charts come from its manifest). */
const GENERATION_FILES = ['results.jsonl', 'selection.jsonl', 'browser.jsonl', 'jobs.jsonl', 'runs.json', 'experiment.json', 'report.md', '.resume', REPORT_MANIFEST, 'models'];

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${(err.message.split(':')[1] ?? '').split(',')[0]!.trim() || err.code}` : String(err.message ?? e);
}

/**
 * Checks, without writing anything, that `dir` is (or can become) a folder this process can write:
 * it is a folder, or missing with a writable folder as its nearest existing ancestor. `flag` names it in
 * messages (e.g. "--out runs/x").
 */
export async function checkOutDir(dir: string, flag: string): Promise<void> {
  const what = 'give a folder you can write to (it is created if missing)';
  let at = dir;
  for (;;) {
    let s;
    try {
      s = await stat(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        at = dirname(at);
        continue;
      }
      throw new Error(`${flag} cannot be used (${errnoText(e)} at ${at}); ${what}.`);
    }
    if (!s.isDirectory()) {
      throw new Error(at === dir ? `${flag} is ${entryKind(s)}, not a folder; ${what}.` : `${flag} cannot be made: ${at} is ${entryKind(s)}, not a folder; ${what}.`);
    }
    try {
      await access(at, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new Error(`${flag} is not writable (${errnoText(e)}${at === dir ? '' : ` at ${at}`}); ${what}.`);
    }
    return;
  }
}

/**
 * Creates `dir` and its missing parents, one level at a time; errors name `flag`. (Node's recursive
 * mkdir loops forever under /proc, where mkdir answers ENOENT: seen with Node 20.)
 */
export async function makeOutDir(dir: string, flag: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const d of missing) {
    try {
      await mkdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(d)).isDirectory()) continue;
      throw new Error(`${flag} cannot be created (${errnoText(e)}${d === resolve(dir) ? '' : ` at ${d}`}); give a folder you can write to.`);
    }
  }
}

interface LockInfo {
  pid: number;
  host: string;
  experiment: string;
  since: string;
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface FolderLock {
  release(): void;
}

/**
 * Takes `dir`'s lock for `experiment`, or throws one line naming the holder. `flag` names the folder in
 * errors about writing it.
 */
export function lockFolder(dir: string, experiment: string, flag: string): FolderLock {
  const file = join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: hostname(), experiment, since: new Date().toISOString() };
  // The lock appears whole or not at all: written to a file of our own, then hard-linked into place
  // (link fails if the lock exists), so no reader ever sees an empty lock and takes it for a stale one.
  const mine = join(dir, `${LOCK_FILE}.${process.pid}`);
  try {
    writeFileSync(mine, `${JSON.stringify(me)}\n`);
  } catch (e) {
    throw new Error(`${flag} is not writable (${errnoText(e)}); give a folder you can write to.`);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${flag} is not writable (${errnoText(e)}); give a folder you can write to.`);
      }
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      let held: Partial<LockInfo> = {};
      try {
        held = JSON.parse(text) as Partial<LockInfo>;
      } catch {
        // Not a lock this code wrote (it never writes a partial one): treated as stale.
      }
      const stale = typeof held.pid !== 'number' || (held.host === me.host && !alive(held.pid));
      if (stale && attempt < 5) {
        // Take it over by renaming it away (one process wins); if what was renamed is not the stale lock
        // judged above (another process took over first), put it back.
        const aside = join(dir, `${LOCK_FILE}.stale-${process.pid}`);
        try {
          renameSync(file, aside);
          if (readFileSync(aside, 'utf8') !== text) {
            try {
              linkSync(aside, file);
            } catch {
              // Someone else holds the lock now; the loop reads it again.
            }
          }
          rmSync(aside, { force: true });
        } catch {
          // Gone already.
        }
        continue;
      }
      throw new Error(
        `${dir} is in use by another digitbench experiment ("${held.experiment ?? '?'}", pid ${held.pid ?? '?'} on ${held.host ?? '?'}, since ${held.since ?? '?'}); ` +
          `wait for it to finish or stop it, or use another --out (if that process is gone, delete ${file}).`,
      );
    }
  } finally {
    rmSync(mine, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      // Only our own lock: never one a later holder took over.
      if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as LockInfo).pid === me.pid) rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  };
  process.on('exit', release);
  return { release };
}

/** The report's files as its manifest lists them, or (older folders) the top-level .svg and .png files. */
async function reportFiles(dir: string): Promise<string[]> {
  return (await reportManifest(dir)) ?? (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && /\.(svg|png)$/i.test(d.name)).map((d) => d.name);
}

/**
 * Moves the folder's previous generation into previous/<time>/ (nothing is deleted). Returns that folder,
 * or undefined when there was nothing to move.
 */
export async function moveGenerationAside(dir: string): Promise<string | undefined> {
  // Lines set aside from the rows files (results/row.ts setAsideTornLine) belong to their generation too,
  // and so do the evaluations of its bundles (`evaluate`'s default folders, which hold its manifest).
  const entries = await readdir(dir);
  const torn = entries.filter((n) => /^(results|selection|browser|jobs)\.jsonl\.torn-/.test(n));
  const evaluations = entries.filter((n) => n.startsWith('evaluate-') && existsSync(join(dir, n, EVALUATION_MANIFEST)));
  const names = [...new Set([...GENERATION_FILES, ...torn, ...evaluations, ...(await reportFiles(dir))])].filter((n) => existsSync(join(dir, n)));
  if (!names.some((n) => n !== '.resume')) return undefined;
  const target = join(dir, PREVIOUS_DIR, new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(target, { recursive: true });
  for (const n of names) await rename(join(dir, n), join(target, n));
  return target;
}
