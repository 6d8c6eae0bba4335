import { parseAst } from 'vitest/node';

/**
 * The functions of a TypeScript source and their lengths, read from its syntax tree (the parser vitest itself
 * uses), so braces in strings, regexes and templates do not fool it and arrow functions and callbacks count too.
 */
export interface FunctionSpan {
  name: string;
  /** 1-based line of the function's head (a method's name, a declaration's `function`, an arrow's parameters). */
  line: number;
  lines: number;
}

interface AstNode {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && typeof (value as AstNode).type === 'string';
}

function nameOf(node: AstNode, parent: AstNode | undefined): string {
  const id = node.id as { name?: string } | null | undefined;
  if (id?.name) return id.name;
  const key = parent?.key as { name?: string } | undefined;
  if (parent && (parent.type === 'MethodDefinition' || parent.type === 'Property' || parent.type === 'PropertyDefinition') && key?.name) return key.name;
  const target = parent?.id as { name?: string } | undefined;
  if (parent?.type === 'VariableDeclarator' && target?.name) return target.name;
  return '(anonymous)';
}

export function functionSpans(source: string, file: string): FunctionSpan[] {
  // The ESTree Program, walked generically below (each node: type, start, end, children in its fields).
  const program = parseAst(source, { lang: file.endsWith('.tsx') ? 'tsx' : 'ts' }, file) as unknown as AstNode;
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source[i] === '\n') lineStarts.push(i + 1);
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const out: FunctionSpan[] = [];
  const visit = (node: AstNode, parent: AstNode | undefined): void => {
    if (FUNCTION_TYPES.has(node.type)) {
      // A method's span starts at its name; a declaration's at `function` (after `export`).
      const head = parent?.type === 'MethodDefinition' ? parent.start : node.start;
      out.push({ name: nameOf(node, parent), line: lineOf(head), lines: lineOf(node.end) - lineOf(head) + 1 });
    }
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) for (const child of value) if (isNode(child)) visit(child, node);
      if (isNode(value)) visit(value, node);
    }
  };
  visit(program, undefined);
  return out;
}
