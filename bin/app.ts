#!/usr/bin/env node
/**
 * CDK app: reads and validates the `s1cado` configuration from the context, composes the stack and
 * registers the cdk-nag AWS Solutions checks (a violation fails synth).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, loadConfig } from '../lib/config';
import { S1CadoForensicsStack } from '../lib/s1-cado-forensics-stack';

function main(): void {
  const app = new App();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(app.node);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The message already names each key and its fix; a stack trace would only bury it.
    console.error(err.message);
    process.exitCode = 1;
    return;
  }

  // The construct id is the stack name: `cdk deploy <name>` and cdk.out/<name>.template.json follow it.
  new S1CadoForensicsStack(app, config.stackName, {
    config,
    description: 'Forensic collection from SentinelOne endpoints via RemoteOps, staged in S3, handed to Cado',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    tags: { Project: 's1-cado-forensics' },
  });

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

main();
