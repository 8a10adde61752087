/**
 * A small language guess for the drift rule `required_language`, good enough to tell a reply in
 * the wrong language from one in the right one (not to tell close dialects apart): scripts decide
 * for non-Latin languages, and for Latin-script ones the share of each language's most common
 * words. Short texts (under 4 words) are not judged.
 */
const SCRIPTS: Array<[RegExp, string]> = [
  [/[\u3040-\u30ff]/g, 'ja'],
  [/[\uac00-\ud7af]/g, 'ko'],
  [/[\u4e00-\u9fff]/g, 'zh'],
  [/[\u0400-\u04ff]/g, 'ru'],
  [/[\u0600-\u06ff]/g, 'ar'],
  [/[\u0590-\u05ff]/g, 'he'],
  [/[\u0370-\u03ff]/g, 'el'],
  [/[\u0900-\u097f]/g, 'hi'],
  [/[\u0e00-\u0e7f]/g, 'th'],
];

const COMMON_WORDS: Record<string, string[]> = {
  en: ['the', 'and', 'is', 'are', 'to', 'of', 'in', 'it', 'you', 'that', 'this', 'for', 'with', 'be', 'was', 'have', 'not', 'on', 'what', 'can', 'i', 'we', 'a', 'an', 'your'],
  fr: ['le', 'la', 'les', 'et', 'est', 'sont', 'des', 'un', 'une', 'du', 'de', 'que', 'qui', 'pour', 'pas', 'vous', 'je', 'nous', 'dans', 'avec', 'ce', 'il', 'elle', 'sur', 'au'],
  de: ['der', 'die', 'das', 'und', 'ist', 'sind', 'nicht', 'ein', 'eine', 'zu', 'ich', 'sie', 'wir', 'mit', 'auf', 'für', 'den', 'dem', 'von', 'es', 'auch', 'sich', 'wie', 'was', 'du'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'son', 'que', 'de', 'en', 'un', 'una', 'por', 'para', 'con', 'no', 'se', 'lo', 'como', 'más', 'yo', 'usted', 'su', 'al', 'del'],
  it: ['il', 'lo', 'la', 'gli', 'le', 'e', 'è', 'sono', 'che', 'di', 'un', 'una', 'per', 'con', 'non', 'si', 'mi', 'io', 'come', 'del', 'della', 'nel', 'anche', 'ma', 'questo'],
  pt: ['o', 'a', 'os', 'as', 'e', 'é', 'são', 'que', 'de', 'do', 'da', 'um', 'uma', 'para', 'com', 'não', 'se', 'por', 'em', 'no', 'na', 'eu', 'você', 'mais', 'como'],
  nl: ['de', 'het', 'een', 'en', 'is', 'zijn', 'niet', 'van', 'dat', 'die', 'te', 'ik', 'je', 'we', 'met', 'op', 'voor', 'ook', 'maar', 'wat', 'er', 'aan', 'dit', 'om', 'bij'],
};
const COMMON_SETS = Object.fromEntries(Object.entries(COMMON_WORDS).map(([language, words]) => [language, new Set(words)]));

/** The language of `text` as an ISO 639-1 code, or undefined when it cannot tell. */
export function detectLanguage(text: string): string | undefined {
  const letters = text.replace(/[\s\d\p{P}\p{S}]/gu, '').length;
  if (letters === 0) return undefined;
  for (const [pattern, language] of SCRIPTS) {
    if ((text.match(pattern)?.length ?? 0) / letters > 0.3) return language;
  }
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  if (words.length < 4) return undefined;
  let best: string | undefined;
  let bestHits = 0;
  for (const [language, common] of Object.entries(COMMON_SETS)) {
    const hits = words.filter((word) => common.has(word)).length;
    if (hits > bestHits) {
      best = language;
      bestHits = hits;
    }
  }
  // Too few common words to be sure of anything (a list of names, code): no verdict.
  return bestHits / words.length >= 0.08 ? best : undefined;
}
