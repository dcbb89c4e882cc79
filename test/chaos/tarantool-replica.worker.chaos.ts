/** Crash matrix of tarantool-replica, crash kind "worker" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['tarantool-replica'], 'worker');
