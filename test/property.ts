/**
 * One way to run every fast-check property: once with a fixed seed (the
 * same cases on every run, so CI is reproducible and a regression shows up
 * at once) and once with a fresh random seed (new cases every run, so the
 * property keeps exploring). A failure names its seed;
 * `QUINTET_PROPERTY_SEED=<seed>` replays exactly that run, alone.
 */
import fc from 'fast-check';

/** The seed of the reproducible run. Changing it changes what CI checks every time. */
export const FIXED_PROPERTY_SEED = 0x5eed_0a11;

/** The seeds to run: the one in QUINTET_PROPERTY_SEED alone, else the fixed one and a random one. */
export function propertySeeds(): number[] {
  const forced = globalThis.process?.env['QUINTET_PROPERTY_SEED'];
  if (forced !== undefined && forced !== '') {
    const seed = Number(forced);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`QUINTET_PROPERTY_SEED must be an integer, got ${forced}`);
    }
    return [seed];
  }
  return [FIXED_PROPERTY_SEED, (Math.random() * 0x1_0000_0000) | 0];
}

/** Rethrows a property failure with the seed and how to replay it first. */
function withSeed(seed: number, error: unknown): Error {
  const detail = error instanceof Error ? error.message : String(error);
  return new Error(
    `property failed with seed ${seed} (replay: QUINTET_PROPERTY_SEED=${seed})\n${detail}`,
    { cause: error },
  );
}

/**
 * `fc.assert` over the fixed seed and a random seed (see the module comment).
 * `params` are passed through; a `seed` in them is overridden.
 */
export function checkProperty<Ts>(property: fc.IProperty<Ts>, params?: fc.Parameters<Ts>): void;
export function checkProperty<Ts>(
  property: fc.IAsyncProperty<Ts>,
  params?: fc.Parameters<Ts>,
): Promise<void>;
export function checkProperty<Ts>(
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  params: fc.Parameters<Ts> = {},
): void | Promise<void> {
  const seeds = propertySeeds();
  if (property.isAsync()) {
    const asyncProperty = property as fc.IAsyncProperty<Ts>;
    return (async () => {
      for (const seed of seeds) {
        try {
          await fc.assert(asyncProperty, { ...params, seed });
        } catch (error) {
          throw withSeed(seed, error);
        }
      }
    })();
  }
  const syncProperty = property as fc.IProperty<Ts>;
  for (const seed of seeds) {
    try {
      fc.assert(syncProperty, { ...params, seed });
    } catch (error) {
      throw withSeed(seed, error);
    }
  }
}
