import { rehearsalSuite } from './rehearsalChecks';

rehearsalSuite('cross-region');
