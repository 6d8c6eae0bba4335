import { rehearsalSuite } from './rehearsalChecks';

// The production adapter for the app's tables (Azure Tables, on Azurite); the other scenarios use the embedded store.
rehearsalSuite('cross-region', { appTables: 'azure' });
