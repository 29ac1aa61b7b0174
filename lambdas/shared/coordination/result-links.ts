/**
 * Result links fetched ahead (DESIGN §9, "O(1) S1 traffic"). When a pass of the Task Watcher finds tasks completed,
 * it asks `POST /remote-scripts/fetch-files` for all their result links in one call (up to 100 tasks) and keeps
 * each link here for the Stage Output that the pass resumes, instead of every Stage Output asking S1 by itself
 * (one `/remote-scripts*` request per investigation, against a budget of about one a second).
 *
 * A link is a presigned download URL: a secret. It lives only in the coordination table (encrypted with its
 * customer-managed key), never in state, logs or errors, for {@link RESULT_LINK_TTL_SECONDS} (S1's links were seen
 * valid for an hour); Stage Output removes it once used. A missing, lapsed or refused link costs nothing but the
 * call saved: Stage Output then asks S1 itself, as it does when a download has to start over.
 */
import * as z from 'zod';
import { RESULT_LINK_KEY_PREFIX } from '../contract';
import { logger } from '../observability';
import type { ResultLink } from '../sentinelone';
import type { CoordinationStore, ItemKey } from './store';

/** How long a fetched link is offered (S1's presigned links were seen to last 3,600 s). */
export const RESULT_LINK_TTL_SECONDS = 40 * 60;

/** Where the fetched link of child task `taskId` is kept. */
export function resultLinkKey(taskId: string): ItemKey {
  return { pk: `${RESULT_LINK_KEY_PREFIX}${taskId}`, sk: 'link' };
}

const StoredLink = z.object({
  taskId: z.string().min(1),
  fileName: z.string(),
  downloadUrl: z.string().min(1),
  fetchedAt: z.string(),
});

/** Keep, take and drop fetched result links. */
export class ResultLinks {
  constructor(
    private readonly store: Pick<CoordinationStore, 'get' | 'putIfAbsent' | 'remove'>,
    private readonly now: () => number,
  ) {}

  /** Keeps each link (a link already kept for the task stays: it is as good). */
  async keep(links: readonly ResultLink[]): Promise<void> {
    const fetchedAt = new Date(this.now()).toISOString();
    for (const link of links) {
      await this.store.putIfAbsent(
        resultLinkKey(link.taskId),
        { taskId: link.taskId, fileName: link.fileName, downloadUrl: link.downloadUrl, fetchedAt },
        StoredLink,
        { ttlSeconds: RESULT_LINK_TTL_SECONDS },
      );
    }
  }

  /** The link kept for `taskId`, or undefined (none, lapsed, unreadable, or the store failed: ask S1). */
  async find(taskId: string): Promise<(ResultLink & { readonly writeId: string }) | undefined> {
    try {
      const item = await this.store.get(resultLinkKey(taskId), StoredLink);
      if (!item) return undefined;
      const { fileName, downloadUrl } = item.data;
      return { taskId, fileName, downloadUrl, writeId: item.writeId };
    } catch (error) {
      logger.warn('Could not read a fetched result link; asking S1', {
        errorName: error instanceof Error ? error.name : 'Error',
      });
      return undefined;
    }
  }

  /** Drops the link kept for `taskId` (once used). Never throws: it lapses by itself. */
  async drop(taskId: string, writeId: string): Promise<void> {
    await this.store.remove(resultLinkKey(taskId), writeId).catch((error: unknown) =>
      logger.warn('Could not drop a used result link (it lapses by itself)', {
        errorName: error instanceof Error ? error.name : 'Error',
      }),
    );
  }
}
