// The two color scales of `inspect`, shared by the terminal renderer and the HTML page so both show the same
// colors: probability (red = surprising → green = expected, ColorBrewer RdYlGn) and activation (blue = -1 →
// white = 0 → red = +1, ColorBrewer RdBu, as in the blog's cell visualisations).

export type Rgb = readonly [number, number, number];

/** Stops of a piecewise-linear scale: [value, color], values increasing. */
export type Scale = ReadonlyArray<readonly [number, Rgb]>;

export const PROBABILITY_SCALE: Scale = [
  [0, [215, 48, 39]],
  [0.25, [244, 109, 67]],
  [0.5, [254, 224, 139]],
  [0.75, [166, 217, 106]],
  [1, [26, 152, 80]],
];

export const ACTIVATION_SCALE: Scale = [
  [-1, [33, 102, 172]],
  [-0.5, [146, 197, 222]],
  [0, [247, 247, 247]],
  [0.5, [244, 165, 130]],
  [1, [178, 24, 43]],
];

/** The color of `value` on `scale`, clamped to its ends. */
export function colorAt(scale: Scale, value: number): Rgb {
  if (!(value > scale[0][0])) return scale[0][1];
  for (let s = 1; s < scale.length; s++) {
    const [x1, c1] = scale[s];
    if (value <= x1) {
      const [x0, c0] = scale[s - 1];
      const f = (value - x0) / (x1 - x0);
      return [0, 1, 2].map((i) => Math.round(c0[i] + f * (c1[i] - c0[i]))) as unknown as Rgb;
    }
  }
  return scale[scale.length - 1][1];
}

/** Black or white, whichever reads better on `background` (relative luminance, WCAG). */
export function textColorOn(background: Rgb): Rgb {
  const linear = background.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
  // contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at L ≈ 0.179
  return luminance > 0.179 ? [0, 0, 0] : [255, 255, 255];
}
