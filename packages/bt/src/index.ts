export { Block } from "./translation-cache.js";
export { DEFAULT_HOT_THRESHOLD, Translator, type TranslatorOptions, type TranslatorStats } from "./translator.js";
