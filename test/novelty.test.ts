// Line or substring novelty: which corpora count as lists of items, and what counts as a copy.

import { describe, expect, it } from 'vitest';
import { detectNoveltyMode, noveltyCheck } from '../src/core/novelty.js';

describe('novelty', () => {
  it('a corpus of short lines is line-shaped, running text is not', () => {
    expect(detectNoveltyMode('Anna\nBob\nEve\n')).toBe('line');
    expect(detectNoveltyMode('The Lord of the Rings\nDune\nIt\n')).toBe('line');
    expect(detectNoveltyMode('First Citizen:\nBefore we proceed any further, hear me speak.\nYou are all resolved rather to die than to famish?\nWe are accounted poor citizens, the patricians good.\nWhat authority surfeits on would relieve us.\n')).toBe('substring');
    expect(detectNoveltyMode('one single line of text')).toBe('substring');
  });

  it('line mode: a sample is a copy when any of its non-empty lines is a corpus line (\\r\\n too)', () => {
    const check = noveltyCheck('Anna\r\nBob\nEve\n\n', 'line');
    expect(check.isNew('Anna\n')).toBe(false);
    expect(check.isNew('Bob')).toBe(false);
    expect(check.isNew('Ann\n')).toBe(true);
    expect(check.isNew('Annabel\nEve\n')).toBe(false);
    expect(check.isNew('Annabel\n\nEvelyn\n')).toBe(true);
    expect(check.isNew('\n')).toBe(false); // nothing made up
  });

  it('substring mode: a copy is any text that occurs in the corpus', () => {
    const check = noveltyCheck('to be, or not to be', 'substring');
    expect(check.isNew('or not')).toBe(false);
    expect(check.isNew('or knot')).toBe(true);
  });
});
