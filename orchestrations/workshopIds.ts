// Moved to contracts/ids.ts (orchestrations, activities and the API all use them); this name stays for
// cohortRun.ts until its imports move.
export * from '../contracts/ids';
