/**
 * Where the deployed pieces are. Each value comes from its flag, else its environment variable, else the stack's
 * CloudFormation output (one DescribeStacks, only when a value is not given otherwise), so an operator with read
 * access to the stack needs no configuration, and one without it can pass the values directly.
 */
import { DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { DEFAULT_STACK_NAME } from '../../lib/config';
import type { AwsClients } from './aws-clients';
import { DeploymentLookupError } from './errors';

/** The stack `bin/app.ts` deploys unless `s1cado.stackName` names another. */
export { DEFAULT_STACK_NAME } from '../../lib/config';

/** How each value is found: stack output, flag, environment variable. */
export const DEPLOYMENT_VALUES = {
  stateMachineArn: { output: 'StateMachineArn', flag: 'state-machine-arn', env: 'S1CADO_STATE_MACHINE_ARN' },
  bucket: { output: 'EvidenceBucketName', flag: 'bucket', env: 'S1CADO_BUCKET' },
  handoffStateMachineArn: {
    output: 'HandOffRerunStateMachineArn',
    flag: 'handoff-state-machine-arn',
    env: 'S1CADO_HANDOFF_STATE_MACHINE_ARN',
  },
  auditFunction: { output: 'AuditFunctionName', flag: 'audit-function', env: 'S1CADO_AUDIT_FUNCTION' },
  signingKeyArn: { output: 'ManifestSigningKeyArn', flag: 'signing-key-arn', env: 'S1CADO_SIGNING_KEY_ARN' },
  cancelFunction: { output: 'CancelFunctionName', flag: 'cancel-function', env: 'S1CADO_CANCEL_FUNCTION' },
  backfillFunction: {
    output: 'BackfillFunctionName',
    flag: 'backfill-function',
    env: 'S1CADO_BACKFILL_FUNCTION',
  },
} as const;

/** A value the CLI can look up. */
export type DeploymentValue = keyof typeof DEPLOYMENT_VALUES;

/** `parseArgs` options for the flags of `values`. */
export function deploymentOptions(...values: DeploymentValue[]): Record<string, { type: 'string' }> {
  return Object.fromEntries(
    values.map((value) => [DEPLOYMENT_VALUES[value].flag, { type: 'string' as const }]),
  );
}

/** Options of {@link Deployment}. */
export interface DeploymentOptions {
  /** `--stack`; else `S1CADO_STACK`; else {@link DEFAULT_STACK_NAME}. */
  readonly stackName?: string;
  /** Flag values by flag name (e.g. `bucket`). */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clients: Pick<AwsClients, 'cloudFormation'>;
}

/** Resolves deployment values, reading the stack outputs at most once. */
export class Deployment {
  readonly stackName: string;
  private outputs: Promise<Map<string, string>> | undefined;

  constructor(private readonly opts: DeploymentOptions) {
    this.stackName = opts.stackName ?? opts.env.S1CADO_STACK ?? DEFAULT_STACK_NAME;
  }

  /** The value, from its flag, its variable or the stack output; throws {@link DeploymentLookupError}. */
  async get(value: DeploymentValue): Promise<string> {
    const how = DEPLOYMENT_VALUES[value];
    const flagged = this.opts.flags[how.flag];
    if (typeof flagged === 'string' && flagged.trim() !== '') return flagged.trim();
    const fromEnv = this.opts.env[how.env];
    if (fromEnv && fromEnv.trim() !== '') return fromEnv.trim();
    const outputs = await this.stackOutputs();
    const found = outputs.get(how.output);
    if (!found) {
      throw new DeploymentLookupError(
        `Stack ${this.stackName} has no output ${how.output} (deployed from an older version? redeploy it), ` +
          `or pass --${how.flag} / set ${how.env}`,
      );
    }
    return found;
  }

  private stackOutputs(): Promise<Map<string, string>> {
    this.outputs ??= this.describe();
    return this.outputs;
  }

  private async describe(): Promise<Map<string, string>> {
    let outputs: Output[];
    try {
      const out = await this.opts.clients.cloudFormation.send(
        new DescribeStacksCommand({ StackName: this.stackName }),
      );
      outputs = out.Stacks?.[0]?.Outputs ?? [];
    } catch (error) {
      const { name, message } = error as Error;
      if (name === 'ValidationError' && /does not exist/.test(message)) {
        throw new DeploymentLookupError(
          `Stack ${this.stackName} was not found in this account and region: pass --stack (or S1CADO_STACK) and ` +
            '--region, or give the values directly (see --help)',
        );
      }
      throw new DeploymentLookupError(
        `Could not read the outputs of stack ${this.stackName} (${name}: ${message}); ` +
          'give the values directly instead (see --help)',
      );
    }
    const map = new Map<string, string>();
    for (const output of outputs) {
      if (output.OutputKey && output.OutputValue) map.set(output.OutputKey, output.OutputValue);
    }
    return map;
  }
}
