/** Crash matrix of mysql-topology, crash kind "worker" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['mysql-topology'], 'worker');
