/** Route table: matches a method and API path to a {@link Route}, capturing `:name` segments. */
import type { Route } from './context';
import { agentRoutes } from './routes/agents';
import { executionRoutes } from './routes/executions';
import { scriptRoutes } from './routes/scripts';
import { taskRoutes } from './routes/tasks';
import { tenantRoutes } from './routes/tenant';
import { threatRoutes } from './routes/threats';

/** Every API route of the simulator. */
export const ROUTES: readonly Route[] = [
  ...tenantRoutes,
  ...agentRoutes,
  ...threatRoutes,
  ...scriptRoutes,
  ...executionRoutes,
  ...taskRoutes,
];

interface Compiled {
  route: Route;
  regex: RegExp;
  names: string[];
}

/** Result of {@link Router.match}. */
export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method-not-allowed' }
  | { kind: 'not-found' };

/** Matches requests against a route list. */
export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: readonly Route[] = ROUTES) {
    this.compiled = routes.map((route) => {
      const names: string[] = [];
      const source = route.pattern
        .split('/')
        .map((segment) => {
          if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(segment.slice(1));
          return '([^/]+)';
        })
        .join('/');
      return { route, regex: new RegExp(`^${source}$`), names };
    });
  }

  /** Finds the route for a method and path (a trailing slash is ignored). */
  match(method: string, path: string): RouteMatch {
    const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
    let pathMatched = false;
    for (const { route, regex, names } of this.compiled) {
      const found = regex.exec(normalized);
      if (!found) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1] ?? '');
      });
      return { kind: 'found', route, params };
    }
    return pathMatched ? { kind: 'method-not-allowed' } : { kind: 'not-found' };
  }
}
