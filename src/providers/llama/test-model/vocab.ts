// SentencePiece-style ("llama" tokenizer model) vocabulary for the test model.
// llama.cpp's SPM tokenizer starts from single characters and repeatedly
// merges the adjacent pair whose concatenation is in the vocabulary with the
// highest score, so every multi-character piece below has all of its
// prefixes in the vocabulary too; that keeps English words reachable as whole
// tokens. Anything else (newlines, non-ASCII text) falls back to <0xXX> bytes.

/** llama.cpp token types (llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** SentencePiece's word-boundary marker, standing in for a leading space. */
const SPACE = '\u2581';

// Common English words, roughly by frequency; each becomes "▁word".
const WORDS = `
the of and to a in is it you that he was for on are with as I his they be at one have this from or had by
hot word but what some we can out other were all there when up use your how said an each she which do their
time if will way about many then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call first who may down side been now
find any new work part take get place made live where after back little only round man year came show every good
me give our under name very through just form sentence great think say help low line differ turn cause much mean
before move right boy old too same tell does set three want air well also play small end put home read hand port
large spell add even land here must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left late run don't while press close night
real life few north open seem together next white children begin got walk example ease paper group always music
those both mark often letter until mile river car feet care second book carry took science eat room friend began
idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual young
ready above ever red list though feel talk bird soon body dog family direct pose leave song measure door product
black short numeral class wind question happen complete ship area half rock order fire south problem piece told
knew pass since top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple several vowel toward
war lay against pattern slow center love person money serve appear road map rain rule govern pull cold notice
voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest
correct able pound done beauty drive stood contain front teach week final gave green oh quick develop ocean warm
free minute strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel
full force blue object decide surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes
distant fill east paint language among hello thanks please sorry assistant user system tool function call result
answer model server request response token json error value name type string array object true false null
ok okay yesterday today tomorrow weather story
`;

// Word-internal pieces so inflections and unknown words still get multi-char
// tokens instead of single letters.
const SUFFIXES = ['s', 'es', 'ed', 'ing', 'er', 'ers', 'est', 'ly', 'tion', 'ment', 'ness', 'able', 'ful', 'less', 'al', 'en', 'ic', 'ous', 'ive'];

// Every printable ASCII character is a piece so ASCII text never needs byte fallback.
const ASCII = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== ' ');

export interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  unkId: number;
  bosId: number;
  eosId: number;
  imStartId: number;
  imEndId: number;
}

/**
 * The vocabulary; `size` pads it with filler pieces up to that many tokens, as large as a current
 * model's (Qwen3: 151,936): the engine's per-token work over the vocabulary (sampling, logprobs)
 * then costs what it costs there. A filler is a private-use character and a number, so no text a
 * client sends ever tokenizes to one.
 */
export function buildVocab(size?: number): Vocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const index = new Map<string, number>();
  const add = (piece: string, type: number, score = 0): number => {
    const existing = index.get(piece);
    if (existing !== undefined) return existing;
    index.set(piece, tokens.length);
    tokens.push(piece);
    scores.push(score);
    types.push(type);
    return tokens.length - 1;
  };

  const unkId = add('<unk>', TokenType.UNKNOWN);
  const bosId = add('<s>', TokenType.CONTROL);
  add('</s>', TokenType.CONTROL);
  for (let b = 0; b < 256; b++) {
    add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TokenType.BYTE);
  }
  const imStartId = add('<|im_start|>', TokenType.CONTROL);
  const imEndId = add('<|im_end|>', TokenType.CONTROL);

  // Ordinary pieces. Score = -(rank): frequent words come first, and a
  // prefix is added just before the longer piece that needs it, so merges
  // that lead towards whole words win over rarer alternatives.
  let rank = 0;
  const addWithPrefixes = (piece: string, minLength: number): void => {
    for (let len = minLength; len <= piece.length; len++) {
      add(piece.slice(0, len), TokenType.NORMAL, -++rank);
    }
  };
  add(SPACE, TokenType.NORMAL, -++rank);
  for (const c of ASCII) add(c, TokenType.NORMAL, -++rank);
  const words = [...new Set(WORDS.split(/\s+/).filter(Boolean))];
  for (const w of words) addWithPrefixes(SPACE + w, 2);
  // Capitalized variants, so sentence starts are whole tokens too.
  for (const w of words) addWithPrefixes(SPACE + w[0]!.toUpperCase() + w.slice(1), 2);
  for (const s of SUFFIXES) addWithPrefixes(s, 1);

  for (let filler = 0; size !== undefined && tokens.length < size; filler++) {
    add(`\uE000${filler.toString(36)}`, TokenType.NORMAL, -1e6 - filler);
  }

  return { tokens, scores, types, unkId, bosId, eosId: imEndId, imStartId, imEndId };
}
