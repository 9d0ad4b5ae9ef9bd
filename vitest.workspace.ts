// Every package is one vitest project; each merges `vitest.shared.ts`.
export default ["packages/*/vitest.config.ts"]
