import { rehearsalSuite } from './rehearsalChecks';

rehearsalSuite('hybrid');
