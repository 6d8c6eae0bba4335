import path from 'node:path';
import { isExpression, parseExpression, type Expr } from '../../local/arm/expressions';
import { BicepRpc, type CompileResult } from '../helpers/bicep';
import { ROOT } from '../../tools/bicep/bicep';

/**
 * infra/ as the Bicep compiler sees it: `infra/main.bicep` compiled to the ARM JSON `azd provision`
 * sends (modules become nested `Microsoft.Resources/deployments` with their template inline), plus a
 * walker over that JSON. What is tested against it is what Azure receives, not the Bicep's spelling.
 */
export const INFRA = path.join(ROOT, 'infra');
export const MAIN = path.join(INFRA, 'main.bicep');

export type Obj = Record<string, unknown>;
export interface Template extends Obj {
  $schema: string;
  parameters: Record<string, Obj>;
  variables?: Obj;
  resources: Resource[];
  outputs?: Record<string, Obj>;
}
export interface Resource extends Obj {
  type: string;
  apiVersion: string;
  name: string;
  properties?: Obj;
}
/** A resource and where it sits: the chain of module deployment names from main, and its template. */
export interface Placed {
  resource: Resource;
  modules: string[];
  template: Template;
}

export async function compileInfra(exe: string): Promise<{ result: CompileResult; template: Template }> {
  const rpc = BicepRpc.start(exe);
  try {
    const result = await rpc.compile(MAIN);
    return { result, template: JSON.parse(result.contents ?? '{"resources":[],"parameters":{}}') as Template };
  } finally {
    await rpc.close();
  }
}

export function placed(t: Template, modules: string[] = []): Placed[] {
  return t.resources.flatMap((resource) => {
    const here: Placed = { resource, modules, template: t };
    if (resource.type !== 'Microsoft.Resources/deployments') return [here];
    const inner = (resource.properties as { template?: Template }).template;
    return inner ? [here, ...placed(inner, [...modules, resource.name])] : [here];
  });
}

export const where = (p: Placed) => `${['main', ...p.modules].join(' > ')}: ${p.resource.type} ${p.resource.name}`;

/** The parsed ARM expression of a `[...]` string, or undefined for a literal. */
export function expr(v: unknown): Expr | undefined {
  return typeof v === 'string' && isExpression(v) ? parseExpression(v) : undefined;
}

export function calls(e: Expr | undefined, name: string, out: Array<Extract<Expr, { kind: 'call' }>> = []): Array<Extract<Expr, { kind: 'call' }>> {
  if (!e) return out;
  if (e.kind === 'call') {
    if (e.name.toLowerCase() === name.toLowerCase()) out.push(e);
    for (const a of e.args) calls(a, name, out);
  } else if (e.kind === 'prop') calls(e.target, name, out);
  else if (e.kind === 'index') {
    calls(e.target, name, out);
    calls(e.index, name, out);
  }
  return out;
}

export const lit = (e: Expr | undefined): string | number | undefined => (e?.kind === 'lit' ? e.value : undefined);
