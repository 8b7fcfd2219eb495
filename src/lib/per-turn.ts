/**
 * What callers ask for in one turn of the event loop, handed to `flush` together: one
 * statement for many requests that arrive in the same moment (a contact centre's desks all
 * reconnecting at once), no wait at all for one that arrives alone. `flush` answers with how
 * to answer each item; if it fails, every item of its turn fails with its error.
 *
 * Written here rather than taken from a library: DataLoader does this, keyed and with a
 * cache, but ours need neither, and it would be one more dependency for a dozen lines.
 */
export function perTurn<T, R>(flush: (items: T[]) => Promise<(item: T) => R>): (item: T) => Promise<R> {
  type Asked = { item: T; resolve(result: R): void; reject(err: unknown): void }
  let turn: Asked[] | undefined
  return (item) =>
    new Promise<R>((resolve, reject) => {
      if (!turn) {
        const asked: Asked[] = []
        turn = asked
        setImmediate(() => {
          turn = undefined
          flush(asked.map((a) => a.item)).then(
            (answer) => {
              for (const a of asked) a.resolve(answer(a.item))
            },
            (err: unknown) => {
              for (const a of asked) a.reject(err)
            }
          )
        })
      }
      turn.push({ item, resolve, reject })
    })
}
