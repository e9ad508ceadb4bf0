type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S

/** Flag values keyed the way src/lib names them: `admin-email` → `adminEmail`. */
export type CamelCaseKeys<T> = {[K in keyof T as K extends string ? CamelCase<K> : never]: T[K]}

/** Renames parsed flags (`{'admin-email': …}`) to the option names of src/lib (`{adminEmail: …}`). */
export function camelCaseKeys<T extends object>(flags: T): CamelCaseKeys<T> {
  const entries = Object.entries(flags).map(([key, value]) => [key.replaceAll(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()), value])
  return Object.fromEntries(entries) as CamelCaseKeys<T>
}
