/** The Task Watcher's result-link prefetch (see shared/coordination/result-links.ts). */
import type { ResultLinks } from '../shared/coordination/result-links';
import { logger } from '../shared/observability';
import { type FetchFilesResult, S1_ID_CHUNK_SIZE } from '../shared/sentinelone';

/**
 * Asks S1 for the result links of `childTaskIds`, 100 tasks a call, and keeps them for Stage Output. Stops at the
 * first refused call (the budget is spent: the rest ask S1 themselves). Returns the calls made.
 */
export async function prefetchResultLinks(
  childTaskIds: readonly string[],
  deps: {
    readonly s1: { fetchFiles(childTaskIds: readonly string[]): Promise<FetchFilesResult> };
    readonly links: Pick<ResultLinks, 'keep'>;
  },
): Promise<number> {
  let calls = 0;
  for (let at = 0; at < childTaskIds.length; at += S1_ID_CHUNK_SIZE) {
    const chunk = childTaskIds.slice(at, at + S1_ID_CHUNK_SIZE);
    let links: FetchFilesResult['links'];
    try {
      ({ links } = await deps.s1.fetchFiles(chunk));
      calls += 1;
    } catch (error) {
      logger.info('Result links not fetched ahead; Stage Output asks S1 itself', {
        errorName: error instanceof Error ? error.name : 'Error',
        tasks: childTaskIds.length - at,
      });
      break;
    }
    await deps.links.keep(links);
  }
  return calls;
}
