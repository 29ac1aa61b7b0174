import * as errors from '../lambdas/shared/errors';

/** One concrete error class of errors.ts, with the `name` and `retryable` flag of an instance. */
export interface ErrorClass {
  readonly className: string;
  readonly name: string;
  readonly retryable: boolean;
}

/** Every concrete error class errors.ts exports (instantiated, so the flags are what a handler would throw). */
export function errorClasses(): ErrorClass[] {
  return Object.entries(errors)
    .filter(([, value]) => typeof value === 'function' && value.prototype instanceof errors.AppError)
    .map(([className, value]) => ({
      className,
      instance: new (value as new (message: string) => errors.AppError)('probe'),
    }))
    .filter(({ instance }) => Object.hasOwn(instance, 'name')) // the abstract bases set no name of their own
    .map(({ className, instance }) => ({ className, name: instance.name, retryable: instance.retryable }));
}
