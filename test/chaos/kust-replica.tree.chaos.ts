/** Crash matrix of kust-replica, crash kind "tree" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['kust-replica'], 'tree');
