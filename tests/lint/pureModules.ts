/**
 * The Azure knowledge an orchestration may import (layers.test.ts): pure — no I/O, no clock, which
 * determinism.test.ts checks — unlike `azure/armClients.ts`, which talks to Resource Manager and so
 * belongs to activities and triggers.
 */
export const PURE_AZURE = ['azure/armErrors', 'azure/environmentNames', 'azure/costGuard'] as const;
