// The checkpoint a training run keeps in the browser (IndexedDB) at each validation, so that closing the tab
// mid-training loses at most the steps since: the worker writes it, the next page opened offers it. It is always a
// whole checkpoint (written from between two steps); a run that ends normally removes it. Storage is best effort:
// where the browser refuses it, nothing is kept and nothing else changes.

export interface KeptCheckpoint {
  bytes: ArrayBuffer;
  name: string;
  iteration: number;
  savedAt: string;
}

const DB = 'charnn';
const STORE = 'kept-checkpoints';
const KEY = 'interrupted-run';

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

export async function keepCheckpoint(kept: KeptCheckpoint): Promise<void> {
  await transact('readwrite', (store) => store.put(kept, KEY));
}

export async function keptCheckpoint(): Promise<KeptCheckpoint | undefined> {
  const value = await transact<KeptCheckpoint>('readonly', (store) => store.get(KEY) as IDBRequest<KeptCheckpoint>);
  return value && value.bytes instanceof ArrayBuffer ? value : undefined;
}

export async function forgetCheckpoint(): Promise<void> {
  await transact('readwrite', (store) => store.delete(KEY));
}
