/** Crash matrix of ctlr-replica, crash kind "tree" (test/chaos/matrix.ts): npm run test:chaos. */
import { crashMatrix } from './matrix';
import { SCRIPTS } from './scripts';

crashMatrix(SCRIPTS['ctlr-replica'], 'tree');
