import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Effect, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV, METRICS } from '../../lambdas/shared/contract';
import { LOG_RETENTION_DAYS } from '../config';

/** Repository root: `lib/constructs/` is two levels below it. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Metric namespace shared by every handler (Powertools Metrics), from the contract. */
export const METRICS_NAMESPACE = METRICS.namespace;

/** CloudFormation metadata key on each function naming its step; the local Step Functions runner binds on it. */
export const STEP_METADATA_KEY = 'S1CadoStep';

/** Properties of a {@link TaskFunction}. */
export interface TaskFunctionProps {
  /**
   * The step this function implements, in kebab-case (e.g. `"run-script"`). The handler is the
   * `handler` export of `<entryRoot>/<step>/index.ts`.
   */
  readonly step: string;
  /**
   * Folder holding one sub-folder per step. Tests point it at fixtures.
   * @default - `<repo>/lambdas`
   */
  readonly entryRoot?: string;
  /**
   * Function description shown in the console.
   * @default - "s1-cado-forensics: <step>"
   */
  readonly description?: string;
  /**
   * Invocation timeout. Handlers never sleep (waiting is a Wait state), so keep it short.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * Memory in MiB (CPU scales with it).
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Concurrency reserved for (and capping) this function.
   * @default - none: the function draws from the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Retention of the function's log group, in days; one CloudWatch Logs accepts
   * (pass `config.logRetentionDays`).
   * @default 365
   */
  readonly logRetentionDays?: number;
  /**
   * `POWERTOOLS_SERVICE_NAME`, the `service` key of every log line and metric dimension.
   * @default "s1-cado-forensics"
   */
  readonly serviceName?: string;
  /**
   * Extra environment variables; they win over the defaults set here. Never put secrets here:
   * pass a secret ARN and read it at runtime.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * Copy the collection scripts into the bundle, beside `index.js`, as `collectors/linux/*.sh` and
   * `collectors/windows/*.ps1` (where `lambdas/collectors` looks for them in a bundle). Bundling fails if
   * either set is empty.
   * @default false
   */
  readonly bundleCollectors?: boolean;
  /**
   * Where the collection scripts live (inside the repository).
   * @default - `<repo>/lambdas/collectors`
   */
  readonly collectorsDir?: string;
}

const STEP_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/**
 * Node flags every TaskFunction runs with (as `NODE_OPTIONS` when there are any; a caller's `environment` may set its
 * own). The bench measures init with these. `--enable-source-maps` is not among them: it makes Node read and parse
 * the bundle's source map at every cold start (measured with farm-bench on the largest bundle: +10 % CPU at init,
 * +6 MiB), while `lambdas/shared/source-stack.ts` reads the same map only when a handler fails.
 */
export const TASK_FUNCTION_NODE_FLAGS: readonly string[] = [];

/**
 * How every TaskFunction is bundled (esbuild through NodejsFunction); `npm run bench -- --only lambdas` builds with
 * the same values, so its sizes and init times are the deployed ones.
 *
 * - `mainFields: module, main`: packages that ship an ES-module build (the AWS SDK, Smithy, Powertools) are bundled
 *   from it, which esbuild can tree-shake down to the commands and schemas a handler uses; their CommonJS builds are
 *   one file per package that comes in whole (measured: about 350 KiB less in the largest bundles).
 * - `keepNames`: Step Functions Retry/Catch match on `error.name`; the error classes set it explicitly
 *   (`lambdas/shared/errors.ts`), and kept names also keep stack traces and `constructor.name` readable.
 * - minified, with an external source map (`index.js.map`, no sources content) that nothing loads at init: see
 *   {@link TASK_FUNCTION_NODE_FLAGS}.
 */
export const TASK_FUNCTION_BUNDLING = {
  format: OutputFormat.CJS,
  target: 'node22',
  mainFields: ['module', 'main'],
  minify: true,
  keepNames: true,
  sourceMap: true,
  sourcesContent: false,
} as const;

/**
 * The one place for Lambda defaults: Node.js 22 on ARM64, active X-Ray tracing, a retained log group
 * with retention, Powertools environment, and an esbuild bundle that keeps class names (Step Functions
 * Retry/Catch match on error names, which minification would otherwise mangle).
 *
 * The function gets its own role that may only write to its own log group and send traces; grant
 * everything else explicitly. Its `AWS::Lambda::Function` carries metadata `S1CadoStep: <step>`.
 *
 * @example
 * const runScript = new TaskFunction(this, 'RunScript', {
 *   step: 'run-script',
 *   logRetentionDays: config.logRetentionDays,
 *   bundleCollectors: true,
 *   environment: { [ENV.s1SecretArn]: secrets.s1Secret.secretArn },
 * });
 */
export class TaskFunction extends NodejsFunction {
  /** The step name (`props.step`). */
  readonly step: string;
  /** The function's execution role (a sibling construct named `<id>ServiceRole`); also `this.role`. */
  readonly executionRole: Role;
  /** The function's log group (a sibling named `<id>LogGroup`, retained on stack deletion); also `this.logGroup`. */
  readonly taskLogGroup: LogGroup;

  /**
   * Invoke grants name the unqualified function only. CDK's default adds `<arn>:*` (every version and
   * alias) for callers that invoke a qualified ARN; nothing here does (the state machines call the
   * unqualified ARN and no versions or aliases are published), so the wildcard would be slack.
   */
  override get resourceArnsForGrantInvoke(): string[] {
    return [this.functionArn];
  }

  constructor(scope: Construct, id: string, props: TaskFunctionProps) {
    if (!STEP_NAME.test(props.step)) {
      throw new Error(`TaskFunction ${id}: step must be kebab-case like "run-script" (got "${props.step}")`);
    }
    const retention = props.logRetentionDays ?? 365;
    if (!(LOG_RETENTION_DAYS as readonly number[]).includes(retention)) {
      throw new Error(
        `TaskFunction ${id}: logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')} (got ${retention})`,
      );
    }
    const entryRoot = props.entryRoot ?? path.join(REPO_ROOT, 'lambdas');
    const collectorsDir = props.collectorsDir ?? path.join(REPO_ROOT, 'lambdas', 'collectors');

    // `this` does not exist before super(), and the log group and role must be passed to it: they are
    // created as siblings named after the function id.
    const pending = TaskFunction.pendingChildren(scope, id, retention);

    super(scope, id, {
      entry: path.join(entryRoot, props.step, 'index.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout ?? Duration.seconds(60),
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      description: props.description ?? `s1-cado-forensics: ${props.step}`,
      logGroup: pending.logGroup,
      role: pending.role,
      environment: {
        [ENV.powertoolsServiceName]: props.serviceName ?? METRICS.serviceName,
        [ENV.powertoolsMetricsNamespace]: METRICS_NAMESPACE,
        [ENV.powertoolsLogLevel]: 'INFO',
        ...(TASK_FUNCTION_NODE_FLAGS.length > 0 ? { NODE_OPTIONS: TASK_FUNCTION_NODE_FLAGS.join(' ') } : {}),
        ...props.environment,
      },
      bundling: {
        ...TASK_FUNCTION_BUNDLING,
        mainFields: [...TASK_FUNCTION_BUNDLING.mainFields],
        // Bundle the pinned SDK clients too: the runtime's copy is a different version than the one tested,
        // and @aws-sdk/lib-storage is not guaranteed to be there.
        externalModules: [],
        commandHooks: props.bundleCollectors ? collectorHooks(collectorsDir) : undefined,
      },
    });

    this.step = props.step;
    this.taskLogGroup = pending.logGroup;
    this.executionRole = pending.role;
    (this.node.defaultChild as CfnFunction).addMetadata(STEP_METADATA_KEY, props.step);

    // Tracing is switched on at the CloudFormation level, with its X-Ray permission in a policy of its own:
    // `tracing: ACTIVE` would put `Resource: *` into the role's default policy, and acknowledging that
    // finding there would also hide any wildcard a later grant adds.
    (this.node.defaultChild as CfnFunction).tracingConfig = { mode: Tracing.ACTIVE };
    const tracingPolicy = new Policy(this, 'TracingPolicy', {
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ],
    });
    tracingPolicy.attachToRole(this.executionRole);
    Validations.of(tracingPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
    });

    this.taskLogGroup.grantWrite(this.executionRole);

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: handlers are built for and tested against Node 22 (esbuild target node22); move runtime and target together.',
    });
  }

  /**
   * Creates the log group and role as siblings named after the function id, so they can be handed
   * to the NodejsFunction constructor (which must run before `this` exists).
   */
  private static pendingChildren(
    scope: Construct,
    id: string,
    retention: number,
  ): { logGroup: LogGroup; role: Role } {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: retention as RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(scope, `${id}ServiceRole`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${Stack.of(scope).stackName}/${id}`,
    });
    return { logGroup, role };
  }
}

/** Shell commands copying the collection scripts into the bundle (local or Docker bundling). */
function collectorHooks(collectorsDir: string) {
  const rel = path.relative(REPO_ROOT, collectorsDir).split(path.sep).join('/');
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`TaskFunction: collectorsDir must be inside the repository (got ${collectorsDir})`);
  }
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir: string, outputDir: string): string[] => [
      `mkdir -p "${outputDir}/collectors/linux" "${outputDir}/collectors/windows"`,
      `cp "${inputDir}/${rel}/linux/"*.sh "${outputDir}/collectors/linux/"`,
      `cp "${inputDir}/${rel}/windows/"*.ps1 "${outputDir}/collectors/windows/"`,
    ],
  };
}
