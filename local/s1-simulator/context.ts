/**
 * What routes see of the simulator: the state, the runtime switches, the clock and a few services. Kept as an
 * interface so the routes do not depend on the server module.
 */
import type { Query } from './http-util';
import type { SimState } from './model';
import type { MultipartForm } from './multipart';
import type { Permission } from './permissions';
import type { PreparedResult } from './result-file';
import type { TaskTiming, TaskView } from './tasks';
import type { ApiTokenRecord, ChildTask, User } from './types';

/**
 * Scenario switches that can be changed at any time through `sim.config` (the next request sees them).
 */
export interface SimConfig {
  /** `nextCursor` on the last page: `null` (Kibana, Go SDK) or `""` (XSOAR fixture). Default null. */
  cursorEnd: null | '';
  /** Key of the link list in fetch-files: real consoles send `download_links`; the spec says `downloadLinks`. */
  fetchFilesKey: 'download_links' | 'downloadLinks';
  /** Whether 429 answers carry `Retry-After` (seconds, simulated) or no hint at all. Default 'seconds'. */
  retryAfter: 'seconds' | 'none';
  /** Turns rate limiting on or off (rules live in the limiter). Default on. */
  rateLimitsEnabled: boolean;
  /** Task timing defaults. */
  taskTiming: TaskTiming;
  /** Validity of download links (`X-Amz-Expires`). Default 3600. */
  linkExpirySeconds: number;
  /** Name of the RemoteOps page in `GET /rbac/role/{id}` ("Remote Script Orchestration" or "RemoteOps"). */
  rsoPageName: string;
  /** Accept the token as `?APIToken=` query parameter (real consoles do; off by default so clients never rely on it). */
  allowQueryToken: boolean;
  /** Send `affected` as a string ("1") instead of a number, as some endpoints/versions do. Default false. */
  numbersAsStrings: boolean;
}

/** The simulator services routes use. */
export interface SimRuntime {
  readonly state: SimState;
  readonly config: SimConfig;
  readonly clock: () => number;
  /** State of a task now. */
  taskView(task: ChildTask): TaskView;
  /** The task's result archive (built and hashed once, then cached). */
  resultOf(task: ChildTask): Promise<PreparedResult>;
  /** A fresh presigned link to a prepared result on the storage host. */
  downloadUrl(result: PreparedResult): string;
}

/** Everything a route handler gets. */
export interface RouteContext {
  readonly sim: SimRuntime;
  readonly method: string;
  /** Path under `/web/api/v2.1`. */
  readonly route: string;
  /** `:name` segments of the route pattern. */
  readonly params: Record<string, string>;
  readonly query: Query;
  /** Parsed JSON body (undefined when there is none). */
  readonly body: unknown;
  /** Parsed multipart body, for multipart requests. */
  readonly form: MultipartForm | undefined;
  /** The authenticated user (routes with `auth: false` get none). */
  readonly user: User | undefined;
  readonly token: ApiTokenRecord | undefined;
  /** The user, or 401 for routes that forgot to require auth. */
  requireUser(): User;
  /** 403 unless the user's role holds every permission. */
  requirePermission(...permissions: Permission[]): void;
  /** Whether the user's role holds the permission. */
  hasPermission(permission: Permission): boolean;
}

/** One API route. Handlers return the JSON body of a 200 answer or throw an `ApiError`. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path under `/web/api/v2.1`; `:name` segments capture one path segment. */
  readonly pattern: string;
  /** Default true: the request needs a valid API token. False: any token is ignored (not even validated). */
  readonly auth?: boolean;
  /** Permissions checked before the handler runs. */
  readonly permissions?: readonly Permission[];
  handle(ctx: RouteContext): unknown | Promise<unknown>;
}
