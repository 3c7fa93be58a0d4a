// Worker threads do not inherit the parent's TypeScript loader in every way Node can be started
// (node --test, node --import tsx, the tsx CLI); registering tsx here makes worker.ts loadable
// in all of them.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
