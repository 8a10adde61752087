import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Caller } from '../gateway/gateway.js';
import { keyStatus, type KeyIdentity, type Store } from '../store/store.js';
import { missingKeyError, presentedKey, wrongKeyError, type Authenticator } from './auth.js';

/** A caller holding a key of the store: what limits and accounting read. */
export interface PlatformCaller extends Caller {
  keyId: string;
  workspaceId: string;
  sandboxed: boolean;
  identity: KeyIdentity;
}

export function isPlatformCaller(caller: Caller | null | undefined): caller is PlatformCaller {
  return caller != null && 'identity' in caller;
}

interface Entry {
  identity: KeyIdentity;
  caller: PlatformCaller;
  /** When last_used_at was last queued for this key. */
  touched: number;
}

export interface StoreAuthenticatorOptions {
  /** Keys from the config file or `SWITCHYARD_API_KEYS`, still accepted beside the store's. */
  fallback?: Authenticator;
  /** How often the store's change counter is read. */
  pollMs: number;
  /** `last_used_at` is written at most this often per key. */
  touchIntervalMs?: number;
  onError?: (error: unknown, what: string) => void;
}

/** Unknown digests remembered (so a flood of wrong keys does not become a flood of queries), up to this many. */
const NEGATIVE_LIMIT = 10_000;
/** Store digests of keys that matched, remembered by a plain hash of the secret, up to this many. */
const DIGEST_MEMO_LIMIT = 10_000;

/**
 * Authenticates against the store's keys. A key is read from the store on its first use and then
 * served from memory, by HMAC digest: the hot path reads no row. Every node polls one counter that
 * moves with every key change and drops what changed, so a revocation holds everywhere within the
 * poll interval (500 ms by default); the node that made the change drops it at once.
 */
export class StoreAuthenticator implements Authenticator {
  private readonly cache = new Map<string, Entry>();
  private readonly negative = new Set<string>();
  private readonly loading = new Map<string, Promise<Entry | undefined>>();
  private readonly lastUsed = new Map<string, number>();
  /**
   * SHA-256 of a presented secret → its store digest (an HMAC). A fresh HMAC costs every request
   * 2–6 µs (a keyed-hash object each time); Node's one-shot hash a fraction of that. The digest of a
   * secret never changes, so nothing here goes stale: a revoked key's entry leads to its digest,
   * which the cache no longer holds. Only secrets that matched a key are kept, and only their
   * hashes: no secret is held, and a flood of wrong keys cannot grow it.
   */
  private readonly digests = new Map<string, string>();
  private version = 0;
  /** Goes up whenever entries are dropped: a load that began before must not cache its stale row. */
  private generation = 0;
  private anyKey = false;
  private poller: NodeJS.Timeout | undefined;
  private toucher: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: StoreAuthenticatorOptions,
  ) {}

  /** Reads the starting state and starts polling. */
  async start(): Promise<void> {
    this.version = await this.store.keyVersion();
    this.anyKey = (await this.store.countKeys()) > 0;
    this.poller = setInterval(() => void this.pollOnce(), this.options.pollMs);
    this.poller.unref();
    this.toucher = setInterval(() => void this.flushLastUsed(), 10_000);
    this.toucher.unref();
  }

  /** No key exists in the store (ever) and none is configured: the server runs open. */
  get open(): boolean {
    return !this.anyKey && (this.options.fallback?.open ?? true);
  }

  authenticate(headers: IncomingHttpHeaders): Caller | Promise<Caller> {
    if (this.open) return { keyId: null };
    const secret = presentedKey(headers);
    if (!secret) throw missingKeyError();
    const plain = hash('sha256', secret, 'base64url');
    const known = this.digests.get(plain);
    const entry = known === undefined ? undefined : this.cache.get(known);
    if (entry) return this.admit(entry);
    const digest = known ?? this.store.hasher.digest(secret);
    return this.slowPath(digest, headers, plain);
  }

  private admit(entry: Entry): PlatformCaller {
    const now = Date.now();
    if (keyStatus(entry.identity.key, now) !== 'active') throw wrongKeyError();
    if (now - entry.touched >= (this.options.touchIntervalMs ?? 60_000)) {
      entry.touched = now;
      this.lastUsed.set(entry.identity.key.id, now);
    }
    return entry.caller;
  }

  private async slowPath(digest: string, headers: IncomingHttpHeaders, plain: string): Promise<Caller> {
    if (!this.negative.has(digest)) {
      const entry = await this.load(digest);
      if (entry) {
        if (!this.digests.has(plain)) {
          if (this.digests.size >= DIGEST_MEMO_LIMIT) this.digests.clear();
          this.digests.set(plain, digest);
        }
        return this.admit(entry);
      }
    }
    const fallback = this.options.fallback;
    if (fallback && !fallback.open) return fallback.authenticate(headers);
    throw wrongKeyError();
  }

  private load(digest: string): Promise<Entry | undefined> {
    let pending = this.loading.get(digest);
    if (!pending) {
      const generation = this.generation;
      pending = this.store.findKeyByDigest(digest).then((identity) => {
        const cacheable = generation === this.generation;
        if (!identity) {
          if (cacheable) {
            if (this.negative.size >= NEGATIVE_LIMIT) this.negative.clear();
            this.negative.add(digest);
          }
          return undefined;
        }
        const { key, workspace } = identity;
        const entry: Entry = {
          identity,
          caller: { keyId: key.id, workspaceId: workspace.id, sandboxed: workspace.sandboxed, identity },
          touched: 0,
        };
        if (cacheable) this.cache.set(digest, entry);
        return entry;
      });
      pending.finally(() => this.loading.delete(digest)).catch(() => {});
      this.loading.set(digest, pending);
    }
    return pending;
  }

  /** Reads the change counter; drops the keys that changed since the last read (one read at a time). */
  private pollOnce(): Promise<void> {
    this.polling ??= this.poll()
      .catch((error) => this.options.onError?.(error, 'polling the key store'))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  /**
   * After a change made through this node: drops what it changed before returning. A poll already
   * under way may have read the counter before the change committed, so a fresh one follows it
   * (joining that poll alone let a revoked key in here until the next tick).
   */
  async refresh(): Promise<void> {
    await this.polling;
    await this.pollOnce();
  }

  private async poll(): Promise<void> {
    const version = await this.store.keyVersion();
    if (version === this.version) return;
    const changed = await this.store.keysChangedSince(this.version);
    this.generation += 1;
    for (const digest of changed) this.cache.delete(digest);
    this.negative.clear();
    this.version = version;
    if (!this.anyKey) this.anyKey = (await this.store.countKeys()) > 0;
  }

  private async flushLastUsed(): Promise<void> {
    if (this.lastUsed.size === 0) return;
    const batch = new Map(this.lastUsed);
    this.lastUsed.clear();
    await this.store.touchKeys(batch).catch((error) => this.options.onError?.(error, 'recording when keys were last used'));
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    clearInterval(this.toucher);
    await this.polling;
    await this.flushLastUsed();
  }
}
