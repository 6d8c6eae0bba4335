import { rehearsalSuite } from './rehearsalChecks';

rehearsalSuite('ml-scoring');
