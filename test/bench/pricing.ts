/**
 * Public list prices the bench assumes for its cost estimates (AWS us-east-1, on-demand, free tiers ignored), and
 * the arithmetic. Prices change: they are printed with every estimate so a reader can redo it.
 */

/** Prices per unit, in US dollars. */
export interface Prices {
  /** Step Functions Standard workflows: per state transition ($0.025 per 1,000). */
  readonly stateTransition: number;
  /** Lambda: per request ($0.20 per million). */
  readonly lambdaRequest: number;
  /** Lambda on Arm (Graviton, as TaskFunction deploys): per GB-second (first pricing tier). */
  readonly lambdaGbSecondArm: number;
  /** CloudWatch Logs ingestion (the state machine logs level ALL with execution data): per GB. */
  readonly logsIngestionGb: number;
}

/** us-east-1 list prices (checked against the public pricing pages; free tiers not applied). */
export const US_EAST_1: Prices = {
  stateTransition: 0.025 / 1000,
  lambdaRequest: 0.2 / 1_000_000,
  lambdaGbSecondArm: 0.0000133334,
  logsIngestionGb: 0.5,
};

/** Lambda bills duration in 1 ms steps. */
export function billedMs(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs));
}

/** One Lambda invocation, for {@link estimateCost}. */
export interface Invocation {
  readonly durationMs: number;
  readonly memoryMb: number;
}

/** The estimate, itemised. */
export interface CostEstimate {
  readonly stepFunctions: number;
  readonly lambdaRequests: number;
  readonly lambdaDuration: number;
  readonly logs: number;
  readonly total: number;
}

/** Cost of one investigation from its counts. */
export function estimateCost(
  counts: {
    readonly stateTransitions: number;
    readonly invocations: readonly Invocation[];
    readonly logBytes: number;
  },
  prices: Prices = US_EAST_1,
): CostEstimate {
  const stepFunctions = counts.stateTransitions * prices.stateTransition;
  const lambdaRequests = counts.invocations.length * prices.lambdaRequest;
  const gbSeconds = counts.invocations.reduce(
    (sum, inv) => sum + (billedMs(inv.durationMs) / 1000) * (inv.memoryMb / 1024),
    0,
  );
  const lambdaDuration = gbSeconds * prices.lambdaGbSecondArm;
  const logs = (counts.logBytes / 1024 ** 3) * prices.logsIngestionGb;
  return {
    stepFunctions,
    lambdaRequests,
    lambdaDuration,
    logs,
    total: stepFunctions + lambdaRequests + lambdaDuration + logs,
  };
}
