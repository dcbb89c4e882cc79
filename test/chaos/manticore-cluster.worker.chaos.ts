/** Crash matrix of manticore-cluster, crash kind "worker" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['manticore-cluster'], 'worker');
