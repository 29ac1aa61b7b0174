/**
 * The audit report as text a responder reads: a header with the verdict and counts, then one row per check
 * (status, title, reason) with the fix under every check that did not pass. Used by the CLI and the SNS message.
 */

import type { AuditCheck, AuditReport } from '../shared/audit/report';
import { redact } from '../shared/redact';

const STATUS_WIDTH = 8;
const TITLE_WIDTH = 36;
const TEXT_WIDTH = 76;

/** Splits text into lines of at most `width` characters, at spaces where possible. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line = `${line} ${word}`;
    else {
      lines.push(line);
      line = word;
    }
    while (line.length > width) {
      lines.push(line.slice(0, width));
      line = line.slice(width);
    }
  }
  if (line !== '') lines.push(line);
  return lines.length > 0 ? lines : [''];
}

function row(check: AuditCheck): string[] {
  const status = check.status.toUpperCase().padEnd(STATUS_WIDTH);
  const title = wrap(check.title, TITLE_WIDTH - 2);
  const text = wrap(check.reason, TEXT_WIDTH);
  if (check.status !== 'pass') text.push(...wrap(`Fix: ${check.fix}`, TEXT_WIDTH));
  const lines: string[] = [];
  const height = Math.max(title.length, text.length);
  for (let i = 0; i < height; i++) {
    const left = i === 0 ? status : ' '.repeat(STATUS_WIDTH);
    lines.push(`${left}${(title[i] ?? '').padEnd(TITLE_WIDTH)}${text[i] ?? ''}`.trimEnd());
  }
  return lines;
}

/** One line: `FAIL: 6 pass, 1 warn, 2 fail, 0 unknown`. */
export function summaryLine(report: AuditReport): string {
  const c = report.counts;
  return `${report.status.toUpperCase()}: ${c.pass} pass, ${c.warn} warn, ${c.fail} fail, ${c.unknown} unknown`;
}

/** The whole report as a readable table. */
export function formatReport(report: AuditReport): string {
  const targets = [
    `S1: ${report.targets.s1 ?? 'not checked'}`,
    `Cado: ${report.targets.cado ?? 'not checked'}`,
  ].join('  ·  ');
  const lines = [
    `Permission audit ${report.startedAt}  ${summaryLine(report)}`,
    targets,
    '',
    `${'STATUS'.padEnd(STATUS_WIDTH)}${'CHECK'.padEnd(TITLE_WIDTH)}RESULT`,
    ...report.checks.flatMap((check) => [...row(check), '']),
  ];
  return redact(lines.join('\n').trimEnd());
}
