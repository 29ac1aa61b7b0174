/**
 * Standalone simulator with the demo tenant, for curl or the demo:
 *
 *   npx tsx local/s1-simulator/cli.ts [--port N] [--storage-port N] [--time-scale X] [--token T] [--seed S]
 *
 * Prints the console URL, the storage URL, the demo token and the agent ids; Ctrl-C stops it.
 */
import { parseArgs } from 'node:util';
import { now, useTimeScale } from '../../lambdas/shared/clock';
import { seedDemoTenant } from './seed';
import { startS1Simulator } from './server';

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new RangeError(`--${name} must be a non-negative number`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'storage-port': { type: 'string' },
      'time-scale': { type: 'string' },
      token: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'Usage: npx tsx local/s1-simulator/cli.ts [--port N] [--storage-port N] [--time-scale X] [--token T] [--seed S]',
    );
    return;
  }
  const scale = numberOption(values['time-scale'], 'time-scale');
  if (scale !== undefined) {
    if (scale <= 0) throw new RangeError('--time-scale must be positive');
    useTimeScale(scale);
  }
  const sim = await startS1Simulator({
    clock: now,
    port: numberOption(values.port, 'port'),
    storagePort: numberOption(values['storage-port'], 'storage-port'),
    seed: values.seed,
  });
  const tenant = seedDemoTenant(sim, { token: values.token });
  const lines = [
    'SentinelOne simulator running',
    `  console URL : ${sim.url}   (API: ${sim.apiUrl})`,
    `  storage URL : ${sim.storageUrl}`,
    `  time scale  : ${scale ?? 1}`,
    `  token       : ${tenant.serviceUser.token}   (user ${tenant.serviceUser.user.fullName}, all permissions)`,
    `  limited     : ${tenant.limitedUser.token}   (user ${tenant.limitedUser.user.fullName}, view only)`,
    `  account     : ${tenant.account.id} ${tenant.account.name}`,
    `  sites       : ${tenant.sites.rso.id} ${tenant.sites.rso.name} (rso), ${tenant.sites.noRso.id} ${tenant.sites.noRso.name} (no rso)`,
    '  agents      :',
    ...Object.entries(tenant.agents).map(
      ([role, agent]) =>
        `    ${agent.id}  ${agent.osType.padEnd(7)} ${agent.computerName.padEnd(14)} ${role}`,
    ),
    `  threats     : ${tenant.threats.windows.id} (windows), ${tenant.threats.linux.id} (linux)`,
    '',
    `  try: curl -H "Authorization: ApiToken ${tenant.serviceUser.token}" ${sim.apiUrl}/agents`,
    'Ctrl-C to stop.',
  ];
  console.log(lines.join('\n'));
  const stop = () => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
