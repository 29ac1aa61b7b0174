/**
 * Bounded concurrency for loops over many independent items (the Task Watcher's answers, claims and looks): at most
 * `limit` calls of `fn` run at once, items are started in order, and every item is attempted even when some fail.
 */

/**
 * Runs `fn` for every item with at most `limit` in flight; resolves once all have settled. `fn` should handle its
 * own errors: the first one left unhandled is thrown after every item ran.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  if (!(limit >= 1)) throw new RangeError('limit must be at least 1');
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError) throw firstError.error;
}
