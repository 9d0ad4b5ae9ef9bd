import { describe, expect, it } from "@effect/vitest"
import { LruMap } from "../src/internal/lru.js"

/** The reference: an array of keys, least recently used first. */
class Reference {
  readonly order: Array<string> = []
  readonly values = new Map<string, number>()
  constructor(readonly maxKeys: number) {}
  use(key: string): number | undefined {
    const value = this.values.get(key)
    if (value !== undefined) {
      this.order.splice(this.order.indexOf(key), 1)
      this.order.push(key)
    }
    return value
  }
  add(key: string, value: number): number | undefined {
    if (this.use(key) !== undefined) return undefined
    this.order.push(key)
    this.values.set(key, value)
    if (this.order.length <= this.maxKeys) return undefined
    const oldest = this.order.shift()!
    const evicted = this.values.get(oldest)
    this.values.delete(oldest)
    return evicted
  }
  delete(key: string): void {
    if (!this.values.delete(key)) return
    this.order.splice(this.order.indexOf(key), 1)
  }
}

describe("LruMap", () => {
  it("evicts the least recently used key, as a reference does, over 20,000 seeded operations", () => {
    const lru = new LruMap<number>(50)
    const reference = new Reference(50)
    let seed = 42
    const draw = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    for (let i = 0; i < 20_000; i++) {
      const key = `k${draw(i < 10_000 ? 120 : 5_000)}`
      const op = draw(10)
      if (op < 5) expect(lru.add(key, i).evicted).toBe(reference.add(key, i))
      else if (op < 9) expect(lru.use(key)).toBe(reference.use(key))
      else {
        lru.delete(key)
        reference.delete(key)
      }
      expect(lru.size).toBe(reference.values.size)
    }
  })
})
