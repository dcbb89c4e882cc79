/** Crash matrix of ctlr-roles, crash kind "worker" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['ctlr-roles'], 'worker');
