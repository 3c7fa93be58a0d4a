// The policies the simulator knows, by the name the CLI takes.
import { bestFitPolicy } from './bestfit.ts';
import { clusteringPolicy } from './clustering.ts';
import { dotProdPolicy } from './dotprod.ts';
import { fgdPolicy } from './fgd.ts';
import { fgdPaperPolicy } from './fgd-paper.ts';
import { packingPolicy } from './packing.ts';
import { type PolicyFactory } from './policy.ts';
import { randomPolicy } from './random.ts';

export const POLICIES: Readonly<Record<string, PolicyFactory>> = {
  random: randomPolicy,
  dotprod: dotProdPolicy,
  packing: packingPolicy,
  clustering: clusteringPolicy,
  bestfit: bestFitPolicy,
  'fgd-paper': fgdPaperPolicy,
  fgd: fgdPolicy,
};

export const POLICY_NAMES = Object.keys(POLICIES);
