/**
 * Resource Manager's published template limits, checked by the emulator before a deployment is created
 * (ARM refuses such a deployment at validation: nothing is created, the name stays free).
 *
 * Source: "ARM template best practices → Template limits" and "Resolve errors for job size exceeded"
 * (learn.microsoft.com/azure/azure-resource-manager/templates/best-practices,
 *  …/troubleshooting/error-job-size-exceeded): the template at most 4 MB and each resource definition at
 * most 1 MB, both after expansion; the deployment job (template, parameters and request metadata) at most
 * 1 MB *after compression*; 256 parameters, 256 variables (one page says 512: the smaller is kept so the
 * emulator is never more permissive), 800 resources including copy count, 64 outputs, 24,576 characters in
 * an expression. The request body itself is capped at 4 MiB by the HTTP front end (413).
 */
import { gzipSync } from 'node:zlib';
import { ArmError, invalidTemplate } from './errors';
import type { Plan } from './template';

export const ARM_TEMPLATE_LIMITS = {
  /** Bytes of the template (UTF-8 JSON). */
  templateBytes: 4 * 1024 * 1024,
  /** Bytes of one resource definition, after copy expansion. */
  resourceBytes: 1024 * 1024,
  /** Bytes of the deployment job (template + parameters) after compression. */
  jobCompressedBytes: 1024 * 1024,
  parameters: 256,
  variables: 256,
  resources: 800,
  outputs: 64,
  expressionChars: 24_576,
  /** Bytes of a request body (the HTTP front end's limit; a bigger body is answered 413). */
  requestBytes: 4 * 1024 * 1024,
} as const;

const n = (x: number) => x.toLocaleString('en-US');
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

/** Counts and sizes ARM checks on the template as written (before parameters are bound). */
export function checkTemplateShape(template: unknown, parameters: unknown): void {
  if (!template || typeof template !== 'object' || Array.isArray(template)) return;
  const t = template as Record<string, unknown>;
  const L = ARM_TEMPLATE_LIMITS;
  const size = bytes(t);
  if (size > L.templateBytes) throw invalidTemplate(`The template is ${n(size)} bytes; the limit is ${n(L.templateBytes)} bytes. Split it into nested or linked templates`);
  const count = (section: string) => (t[section] && typeof t[section] === 'object' ? Object.keys(t[section] as object).filter((k) => k !== 'copy').length : 0);
  const checks: Array<[string, number, number]> = [
    ['parameters', count('parameters'), L.parameters],
    ['variables', count('variables'), L.variables],
    ['outputs', count('outputs'), L.outputs],
  ];
  for (const [what, have, limit] of checks) {
    if (have > limit) throw invalidTemplate(`The template has ${have} ${what}; the limit is ${limit}. Combine values into objects`);
  }
  const long = longestExpression(t);
  if (long && long.length > L.expressionChars) {
    throw invalidTemplate(`The template expression at '${long.path}' is ${n(long.length)} characters; the limit is ${n(L.expressionChars)}`);
  }
  const job = gzipSync(JSON.stringify({ template: t, parameters: parameters ?? {} })).length;
  if (job > L.jobCompressedBytes) {
    throw new ArmError(
      400,
      'DeploymentJobSizeExceeded',
      `The deployment job is ${n(job)} bytes after compression (template and parameters); the limit is ${n(L.jobCompressedBytes)} bytes. Reduce the template (fewer explicit dependsOn, smaller inline values) or split it into nested deployments. See https://aka.ms/arm-template-limits.`,
    );
  }
}

/** Limits on the expanded plan: resources counted with their copies, each resource definition's size. */
export function checkPlanLimits(plan: Plan): void {
  const L = ARM_TEMPLATE_LIMITS;
  if (plan.resources.length > L.resources) {
    throw invalidTemplate(`The template has ${plan.resources.length} resources (copy loops counted); the limit is ${L.resources}. Split it into nested deployments`);
  }
  for (const r of plan.resources) {
    const size = bytes(r.def);
    if (size > L.resourceBytes) throw invalidTemplate(`The template resource '${r.name}' (${r.key}) is ${n(size)} bytes; the limit for one resource definition is ${n(L.resourceBytes)} bytes`, r.id);
  }
}

function longestExpression(v: unknown, path = ''): { path: string; length: number } | undefined {
  if (typeof v === 'string') return v.startsWith('[') && !v.startsWith('[[') && v.endsWith(']') ? { path, length: v.length } : undefined;
  let best: { path: string; length: number } | undefined;
  const consider = (x: unknown, p: string) => {
    const found = longestExpression(x, p);
    if (found && (!best || found.length > best.length)) best = found;
  };
  if (Array.isArray(v)) v.forEach((x, i) => consider(x, `${path}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) consider(x, path ? `${path}.${k}` : k);
  return best;
}
