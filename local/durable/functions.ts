/**
 * The function descriptions live with the app (`functionDefs.ts`), which production code imports; the
 * local host and the tests keep reading them under this name.
 */
export type * from '../../functionDefs';
