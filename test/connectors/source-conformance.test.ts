import { describe, expect, it } from 'vitest';
import { PLATFORMS } from '../../src/connectors/registry.js';
import { SIMULATORS } from '../../src/simulator/registry.js';
import { SOURCE_SIMULATORS } from '../helpers/source-simulators.js';
import { describeSourceConformance } from './conformance.js';

/** The connector conformance suite (conformance.ts) for every platform of the registry, against its simulator. */

describe('source conformance adapters', () => {
  it('every platform of connectors/registry.ts has a simulator (simulator/registry.ts) and a conformance adapter', () => {
    const platforms = PLATFORMS.map((p) => p.id);
    expect(SIMULATORS.map((s) => s.name)).toEqual(platforms);
    expect(SOURCE_SIMULATORS.map((s) => s.platform)).toEqual(platforms);
  });
});

for (const platform of PLATFORMS) {
  const simulator = SOURCE_SIMULATORS.find((s) => s.platform === platform.id);
  if (simulator) describeSourceConformance(platform, simulator);
}
