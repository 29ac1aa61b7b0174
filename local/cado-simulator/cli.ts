/**
 * Starts a standalone Cado simulator, e.g. for `curl` or for pointing the demo at it:
 *
 *   npx tsx local/cado-simulator/cli.ts [--port N] [--key K] [--role R] [--time-scale X]
 *     [--platform-version V] [--no-child-pipelines]
 *
 * Prints the URL and the API key, and runs until Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { useTimeScale } from '../../lambdas/shared/clock';
import { type CadoRole, isCadoRole } from './roles';
import { startCadoSimulator } from './server';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    key: { type: 'string' },
    role: { type: 'string', default: 'Lead Analyst' },
    'time-scale': { type: 'string' },
    'platform-version': { type: 'string' },
    'no-child-pipelines': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: cli.ts [--port N] [--key K] [--role R] [--time-scale X] [--platform-version V] [--no-child-pipelines]',
  );
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fail(`--port must be a port number, got "${values.port}"`);
const role: CadoRole = isCadoRole(values.role)
  ? values.role
  : fail(`--role must be a Cado role (e.g. "Lead Analyst"), got "${values.role}"`);
if (values['time-scale'] !== undefined) {
  const scale = Number(values['time-scale']);
  if (!Number.isFinite(scale) || scale <= 0) fail(`--time-scale must be a positive number`);
  useTimeScale(scale);
}
const key = values.key ?? `cado-sim-${randomBytes(16).toString('hex')}`;

async function main(): Promise<void> {
  const sim = await startCadoSimulator({
    port,
    ...(values['platform-version'] ? { platformVersion: values['platform-version'] } : {}),
    behaviour: { childPipelines: !values['no-child-pipelines'] },
    keys: [{ key, role }],
  });

  console.log(`Cado simulator ${sim.platformVersion} listening`);
  console.log(`  url:     ${sim.url}   (API under ${sim.apiUrl})`);
  console.log(`  api key: ${key}   (role ${role})`);
  console.log(`  try:     curl -H "Authorization: Bearer ${key}" ${sim.apiUrl}/auth/whoami`);

  const stop = async () => {
    await sim.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => fail(`Cado simulator failed to start: ${String(error)}`));
