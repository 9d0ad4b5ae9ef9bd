/**
 * A map that forgets its least recently used key beyond `maxKeys`, so that
 * per-key state (one breaker per model, per tenant, ...) stays bounded.
 */
export class LruMap<V> {
  private readonly entries = new Map<string, V>()
  /** The most recently used key: using it again needs no reordering (the common case of a hot key). */
  private latest: string | undefined

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
      // Map iterates in insertion order: the first key is the least recently used.
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) {
        evicted = this.entries.get(oldest)
        this.entries.delete(oldest)
      }
    }
    return { kept: value, evicted }
  }

  delete(key: string): void {
    if (key === this.latest) this.latest = undefined
    this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }
}
