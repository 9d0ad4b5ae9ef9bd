/**
 * A map that forgets its least recently used key beyond `maxKeys`, so that
 * per-key state (one breaker per model, per tenant, ...) stays bounded.
 */
export class LruMap<V> {
  private readonly entries = new Map<string, V>()
  /** The most recently used key: using it again needs no reordering (the common case of a hot key). */
  private latest: string | undefined
  /**
   * Walks the keys in order, oldest first, and is kept from one eviction to the next. A `Map` leaves
   * a hole where a key was deleted until it rehashes, and a fresh `keys()` skips every hole from the
   * start: with keys used once, each eviction scanned thousands of holes (~8 % of the CPU of a new key).
   * A Map iterator survives deletions and insertions: every key before it was evicted or moved to the
   * end (where it meets it again), so the next key it gives is the least recently used one.
   */
  private order: Iterator<string> | undefined = undefined

  constructor(readonly maxKeys: number) {}

  /** The value under `key`, created with `make` when absent; marks the key as used. */
  getOrCreate(key: string, make: () => V): V {
    return this.use(key) ?? this.add(key, make()).kept
  }

  /** The value under `key`, if any, marked as used. */
  use(key: string): V | undefined {
    const existing = this.entries.get(key)
    if (existing !== undefined && key !== this.latest) {
      this.entries.delete(key)
      this.entries.set(key, existing)
      this.latest = key
    }
    return existing
  }

  get(key: string): V | undefined {
    return this.entries.get(key)
  }

  /**
   * Puts `value` under `key` unless a value is there already: `kept` is the
   * value now under `key` (the existing one wins), `evicted` the least
   * recently used value dropped to make room, for its owner to release.
   */
  add(key: string, value: V): { readonly kept: V; readonly evicted: V | undefined } {
    const existing = this.use(key)
    if (existing !== undefined) return { kept: existing, evicted: undefined }
    this.entries.set(key, value)
    this.latest = key
    let evicted: V | undefined
    if (this.entries.size > this.maxKeys) {
      const oldest = this.oldest()
      if (oldest !== undefined) {
        evicted = this.entries.get(oldest)
        this.entries.delete(oldest)
      }
    }
    return { kept: value, evicted }
  }

  /** The least recently used key (Map iterates in insertion order; an iterator once done stays done). */
  private oldest(): string | undefined {
    let next = this.order?.next()
    if (next === undefined || next.done === true) {
      this.order = this.entries.keys()
      next = this.order.next()
    }
    return next.done === true ? undefined : next.value
  }

  delete(key: string): void {
    if (key === this.latest) this.latest = undefined
    this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }
}
