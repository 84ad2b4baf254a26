// Whether a generated text is new or a copy of the training text. A corpus of short lines (names, words, titles)
// is a list of items, so a sample is a copy when one of its lines is a line of the corpus; any other corpus is
// running text, and a sample is a copy when it occurs anywhere in it.

export type NoveltyMode = 'line' | 'substring';

/** Lines of at most this many words (the median non-empty line) make a corpus line-shaped: names 1, verse 7. */
const MAX_ITEM_WORDS = 4;

/** 'line' when the corpus has at least two non-empty lines and its median non-empty line has at most 4 words. */
export function detectNoveltyMode(corpus: string): NoveltyMode {
  const words = corpusLines(corpus).filter((line) => line.trim().length > 0).map((line) => line.trim().split(/\s+/).length);
  if (words.length < 2) return 'substring';
  words.sort((a, b) => a - b);
  return words[words.length >> 1] <= MAX_ITEM_WORDS ? 'line' : 'substring';
}

export interface NoveltyCheck {
  readonly mode: NoveltyMode;
  /** Whether `text` (a whole sample, prime included) is new: no line of it is a corpus line / it is not in the corpus. */
  isNew(text: string): boolean;
}

export function noveltyCheck(corpus: string, mode: NoveltyMode = detectNoveltyMode(corpus)): NoveltyCheck {
  if (mode === 'substring') return { mode, isNew: (text) => text.length > 0 && !corpus.includes(text) };
  const lines = new Set(corpusLines(corpus));
  return {
    mode,
    // empty lines are no one's invention: only the sample's non-empty lines count
    isNew: (text) => {
      const own = corpusLines(text).filter((line) => line.length > 0);
      return own.length > 0 && own.every((line) => !lines.has(line));
    },
  };
}

/** Lines without their terminator (\n or \r\n). */
function corpusLines(text: string): string[] {
  return text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}
