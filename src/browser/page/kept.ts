// The checkpoints training runs keep in the browser (IndexedDB) at each validation, so that closing the tab
// mid-training loses at most the steps since: the worker writes them, a page opened later offers them. Each is a
// whole checkpoint (written from between two steps), kept under its run's own key, so that two tabs training at
// once keep one each and neither's end removes the other's. While a run trains, its worker holds a Web Lock of the
// same name: a page offers only the checkpoints of runs whose lock nobody holds (their tab was closed), never one
// another tab is still training. A run that ends normally removes its own. Storage is best effort: where the
// browser refuses it, nothing is kept and nothing else changes (without Web Locks every kept run counts as ended).

export interface KeptCheckpoint {
  bytes: ArrayBuffer;
  name: string;
  iteration: number;
  savedAt: string;
}

const DB = 'charnn';
const STORE = 'kept-checkpoints';
/** The one key of the pages before runs had keys of their own; an entry under it is a run that ended. */
const LEGACY_KEY = 'interrupted-run';

function open(): Promise<IDBDatabase | null> {
  return new Promise((resolve) => {
    try {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

async function transact<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
  const db = await open();
  if (!db) return undefined;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => {
        db.close();
        resolve(request ? request.result : undefined);
      };
      tx.onerror = tx.onabort = () => {
        db.close();
        resolve(undefined);
      };
    } catch {
      db.close();
      resolve(undefined);
    }
  });
}

/** A key for a new training run's kept checkpoint (and the name of the lock it holds while it trains). */
export function newRunKey(): string {
  const id = typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `run:${id}`;
}

const lockName = (key: string) => `charnn:${key}`;

/**
 * Takes the lock of run `key` and holds it until release() (or until the worker is gone: a closed tab lets go of
 * it). `held` settles once the lock is held, or at once where Web Locks are missing.
 */
export function holdRunLock(key: string): { held: Promise<void>; release: () => void } {
  let release = () => {};
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return { held: Promise.resolve(), release };
  const held = new Promise<void>((granted) => {
    locks.request(lockName(key), () => new Promise<void>((done) => {
      release = done;
      granted();
    })).catch(() => granted());
  });
  return { held, release: () => release() };
}

/** Whether run `key` is training now in some tab (its lock is held). False where Web Locks are missing. */
async function runIsLive(key: string): Promise<boolean> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks || key === LEGACY_KEY) return false;
  try {
    return await locks.request(lockName(key), { ifAvailable: true }, async (lock) => lock === null);
  } catch {
    return false;
  }
}

export async function keepCheckpoint(key: string, kept: KeptCheckpoint): Promise<void> {
  await transact('readwrite', (store) => store.put(kept, key));
}

export async function forgetCheckpoint(key: string): Promise<void> {
  await transact('readwrite', (store) => store.delete(key));
}

/** The checkpoints of runs that did not finish and are not training in any tab, the most recently saved first. */
export async function keptCheckpoints(): Promise<Array<{ key: string; kept: KeptCheckpoint }>> {
  const keys = ((await transact<IDBValidKey[]>('readonly', (store) => store.getAllKeys())) ?? []).filter((k): k is string => typeof k === 'string');
  const found: Array<{ key: string; kept: KeptCheckpoint }> = [];
  for (const key of keys) {
    if (await runIsLive(key)) continue;
    const kept = await transact<KeptCheckpoint>('readonly', (store) => store.get(key) as IDBRequest<KeptCheckpoint>);
    if (kept && kept.bytes instanceof ArrayBuffer) found.push({ key, kept });
  }
  return found.sort((a, b) => (a.kept.savedAt < b.kept.savedAt ? 1 : a.kept.savedAt > b.kept.savedAt ? -1 : 0));
}
