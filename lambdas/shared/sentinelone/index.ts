/**
 * The SentinelOne client and what goes with it: schemas and types of what S1 returns, task status
 * classification, and the check for result download links.
 */
export * from './client';
export * from './download-url';
export * from './schemas';
export * from './task-status';
