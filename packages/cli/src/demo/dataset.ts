/**
 * The tour's dataset: "two moons", two interleaving half circles with Gaussian noise, made from
 * a seeded generator so every run trains on the same points and reports the same numbers. A
 * hidden layer is needed to separate the moons, and the noise makes perfect accuracy impossible,
 * so validation has room to move.
 */

/** Points (row-major, `features` per row) and their class labels. */
export interface Split {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
}

export interface MoonsDataset {
  readonly train: Split;
  readonly validation: Split;
  /** Held out: used only after training, on the loaded checkpoint. */
  readonly test: Split;
  readonly featureCount: 2;
  readonly classCount: 2;
}

export interface MoonsOptions {
  /** @default 7 */
  seed?: number;
  /** @default 800 */
  trainSize?: number;
  /** @default 300 */
  validationSize?: number;
  /** @default 300 */
  testSize?: number;
  /** Standard deviation of the noise added to each coordinate. @default 0.3 */
  noise?: number;
}

/** mulberry32: a tiny seeded generator of floats in [0, 1); `Math.random` cannot be seeded. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A standard normal sample (Box-Muller). */
function gaussian(random: () => number): number {
  const u = 1 - random(); // in (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function makeSplit(size: number, noise: number, random: () => number): Split {
  const features = new Float32Array(size * 2);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const label = i % 2;
    const angle = Math.PI * random();
    // Moon 0 is the upper half circle at the origin; moon 1 the lower one, shifted to interleave.
    const x = label === 0 ? Math.cos(angle) : 1 - Math.cos(angle);
    const y = label === 0 ? Math.sin(angle) : 0.5 - Math.sin(angle);
    features[i * 2] = x + noise * gaussian(random);
    features[i * 2 + 1] = y + noise * gaussian(random);
    labels[i] = label;
  }
  return { features, labels, size };
}

/** The same three splits for the same options, on every machine. */
export function makeMoons(options: MoonsOptions = {}): MoonsDataset {
  const { seed = 7, trainSize = 800, validationSize = 300, testSize = 300, noise = 0.3 } = options;
  const random = seededRandom(seed);
  return {
    train: makeSplit(trainSize, noise, random),
    validation: makeSplit(validationSize, noise, random),
    test: makeSplit(testSize, noise, random),
    featureCount: 2,
    classCount: 2,
  };
}

/** A permutation of `0..size-1` from `random` (Fisher-Yates), to shuffle batches reproducibly. */
export function permutation(size: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
